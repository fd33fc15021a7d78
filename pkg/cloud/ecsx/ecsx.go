// Package ecsx is the ECS port of the product: a consumer-side interface with only the ECS
// actions the services use, an adapter over the official alibaba-cloud-sdk-go client, one
// place that classifies ECS error codes, and a bounded retry decorator.
package ecsx

import (
	"context"
	"time"
)

// Image statuses as DescribeImages reports and filters them.
const (
	StatusCreating     = "Creating"
	StatusWaiting      = "Waiting"
	StatusAvailable    = "Available"
	StatusUnAvailable  = "UnAvailable"
	StatusCreateFailed = "CreateFailed"
	StatusDeprecated   = "Deprecated"
)

// AllImageStatuses makes DescribeImages return images in every status. ECS returns only
// Available images when the Status parameter is absent, which hides in-flight images
// (Creating, Waiting) from an idempotency check; pass this whenever "does it exist" matters.
var AllImageStatuses = []string{StatusCreating, StatusWaiting, StatusAvailable, StatusUnAvailable, StatusCreateFailed, StatusDeprecated}

// Instance statuses that matter to imaging: CreateImage needs Running or Stopped.
const (
	InstanceRunning = "Running"
	InstanceStopped = "Stopped"
)

// Instance is the part of an ECS instance the services need.
type Instance struct {
	ID, Name, Region, Status, ImageID string
	Tags                              map[string]string
	// Locked is true when the instance has operation locks (security, financial…);
	// CreateImage fails on a locked instance (InstanceLockedForSecurity).
	Locked      bool
	LockReasons []string
	// Config is what a restore needs to rebuild the instance, as DescribeInstances
	// returns it (compute.go).
	Config InstanceConfig
}

// Image is the part of an ECS custom image the services need.
type Image struct {
	ID, Name, Region, Status, Progress string
	Created                            time.Time
	SizeGiB                            int
	Tags                               map[string]string
	IsCopied                           bool
	// Snapshots are the snapshot ids of the image's DiskDeviceMappings; ECS keeps them
	// after DeleteImage, so they are deleted separately once the image is gone.
	Snapshots []string
}

// InstanceQuery filters DescribeInstances; empty fields do not filter.
type InstanceQuery struct {
	// IDs are sent in chunks of 100 (the API limit); the results are concatenated.
	IDs []string
	// Tags: an instance must carry every pair (at most 20).
	Tags map[string]string
	// Status: one instance status, e.g. "Running".
	Status string
	// ImageID: instances created from this image.
	ImageID string
}

// ImageQuery filters DescribeImages on the account's own images (ImageOwnerAlias=self).
type ImageQuery struct {
	// IDs of images (at most 100).
	IDs []string
	// Statuses to include. Empty means the service default, which is Available only;
	// use AllImageStatuses to see every image.
	Statuses []string
	// Tags: an image must carry every pair (at most 20).
	Tags map[string]string
	// Name: exact image name.
	Name string
	// Keep, when set, is applied to each image as its page arrives; only kept images are
	// returned. A listing of a shard (policy.Shard) holds its shard's images in memory,
	// never the region's: the server has no filter for a hash of a tag.
	Keep func(Image) bool
}

// CreateImageInput is one CreateImage call from an instance.
type CreateImageInput struct {
	InstanceID  string
	Name        string
	Description string
	// ClientToken makes the call idempotent on the service for a limited time (ASCII, ≤64).
	// It is not a substitute for looking the image up first: the real service forgets tokens.
	ClientToken string
	Tags        map[string]string
}

// CopyImageInput is one CopyImage call; the call is sent to the source region.
type CopyImageInput struct {
	ImageID           string
	DestinationRegion string
	Name              string
	Description       string
	Encrypted         bool
	KMSKeyID          string
	Tags              map[string]string
}

// API is the ECS port. Contract for every implementation (SDK adapter, in-memory fakes):
//   - errors are classifiable with Code, IsThrottled, IsNotFound and IsRetryable (the
//     adapter returns *Error; fakes should return NewError values);
//   - list calls return every page, never a truncated first page;
//   - region is the region the call is addressed to (CopyImage: the source region).
type API interface {
	DescribeInstances(ctx context.Context, region string, q InstanceQuery) ([]Instance, error)
	// CreateImage starts an image and returns its id; the image is Creating until ready.
	CreateImage(ctx context.Context, region string, in CreateImageInput) (imageID string, err error)
	DescribeImages(ctx context.Context, region string, q ImageQuery) ([]Image, error)
	// CopyImage starts a copy of an Available image and returns the id of the copy in the
	// destination region. The SDK's CopyImageRequest has no ClientToken: the call is NOT
	// idempotent, callers must look for an existing copy first.
	CopyImage(ctx context.Context, region string, in CopyImageInput) (string, error)
	// DeleteImage never forces unless asked; an image used by an instance fails with
	// ImageUsingByInstance.
	DeleteImage(ctx context.Context, region, imageID string, force bool) error
	// DeleteSnapshot fails with SnapshotCreatedImage while an image still references it.
	DeleteSnapshot(ctx context.Context, region, snapshotID string) error
	// DescribeSnapshots lists snapshots by id and/or tags (every page).
	DescribeSnapshots(ctx context.Context, region string, q SnapshotQuery) ([]Snapshot, error)
	// TagResources sets tags on resources of one type (ResourceImage, ResourceSnapshot);
	// ids are sent 50 at a time.
	TagResources(ctx context.Context, region, resourceType string, ids []string, tags map[string]string) error
	// UntagResources removes the tag keys from resources of one type; a key a resource
	// does not carry is no error. ids are sent 50 at a time; an unknown id is IsNotFound
	// and nothing of its batch is untagged.
	UntagResources(ctx context.Context, region, resourceType string, ids []string, keys []string) error
}
