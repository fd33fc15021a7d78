package ecs

import (
	"maps"
	"sync"
	"time"
)

// Image is an inspection copy of an image (Service.Images).
type Image struct {
	ID          string
	RegionID    string
	Name        string
	Description string
	// Status is Waiting, Creating, Available or CreateFailed (real ECS also has
	// UnAvailable and Deprecated, which only seeds produce).
	Status       string
	Progress     int // percent
	OwnerAlias   string
	SizeGiB      int
	CreationTime time.Time
	// SourceInstanceID is the instance a CreateImage image was taken from.
	SourceInstanceID string
	// IsCopied marks a CopyImage result; CopySourceRegion/CopySourceImageID name its source.
	IsCopied          bool
	CopySourceRegion  string
	CopySourceImageID string
	Encrypted         bool
	KMSKeyID          string
	OSType            string
	Architecture      string
	Platform          string
	ClientToken       string
	Tags              map[string]string
	Disks             []ImageDisk
}

// ImageDisk is one disk device mapping of an image.
type ImageDisk struct {
	SnapshotID string
	Device     string
	Type       string // system or data
	SizeGiB    int
}

// Snapshot is an inspection copy of a snapshot (Service.Snapshots).
type Snapshot struct {
	ID                string
	RegionID          string
	Name              string
	Status            string // progressing, accomplished or failed
	Progress          int
	SourceDiskID      string
	SourceDiskType    string // system or data
	SourceDiskSizeGiB int
	Category          string
	// Usage is "image" while an image is built on the snapshot and "none" once it is deleted.
	Usage        string
	ImageID      string
	CreationTime time.Time
	Encrypted    bool
	KMSKeyID     string
	// SourceRegionID/SourceSnapshotID are set on snapshots made by CopyImage.
	SourceRegionID   string
	SourceSnapshotID string
	Tags             map[string]string
}

// Instance is an inspection copy of an instance (Service.Instances).
type Instance struct {
	ID           string
	RegionID     string
	ZoneID       string
	Name         string
	Status       string
	InstanceType string
	OSType       string
	ImageID      string
	LockReason   string
	FailImages   bool
	failNext     int // the next failNext images of this instance end CreateFailed (FailNextImages)
	CreationTime time.Time
	Tags         map[string]string
	Disks        []Disk
	InstanceNet
	// StartTime is when the instance last became Running (DescribeInstances StartTime).
	StartTime time.Time
}

// Disk is one disk of an instance.
type Disk struct {
	ID       string
	Type     string
	SizeGiB  int
	Device   string
	Category string
}

// image is the service's record; the exported part is copied out.
type image struct {
	Image
	start, end time.Time // Creating phase on the simulated clock
	timer      timerStopper
	tokenKey   string // ClientToken fingerprint of the CreateImage params
	copyDur    time.Duration
}

type timerStopper interface{ Stop() bool }

type snapshot struct {
	Snapshot
	// sharedTags: Tags is shared with other snapshots (bulk seeding) and is cloned
	// before its first change (setTagsLocked, the only writer of tags).
	sharedTags bool
}

type instance struct{ Instance }

// region is one region's state. Its mutex guards every field but id and localName
// (fixed at New), so regions serve calls in parallel; a call touching two regions
// (CopyImage) takes both locks in id order (lockPair).
type region struct {
	mu            sync.Mutex
	id, localName string
	quota         int
	images        map[string]*image
	snapshots     map[string]*snapshot
	instances     map[string]*instance
	activeCopies  int
	waiting       []string                   // copy image ids in arrival order
	tokens        map[string]string          // CreateImage ClientToken -> image id
	compute       *computeState              // networks, capacity, Cloud Assistant (compute_seed.go)
	templates     map[string]*launchTemplate // launch templates by id (launchtemplates.go)
	failCopies    int                        // the next failCopies copies into this region end CreateFailed

	// Indexes (index.go, region_index.go): kept exact by addImage/updateImage/removeImage
	// and their snapshot and instance twins, the only writers of the indexed fields.
	imgIdx       *table[image]
	snapIdx      *table[snapshot]
	instIdx      *table[instance]
	customImages int             // images with OwnerAlias self (the quota counts them)
	selfNames    map[string]int  // names of self images
	copying      map[copySrc]int // copies Waiting or Creating, by source
	imageUsers   map[string]int  // image id -> instances launched from it (Usage)
}

func (im *image) snapshotCopy(now time.Time) Image {
	out := im.Image
	out.Tags = maps.Clone(im.Tags)
	out.Disks = append([]ImageDisk(nil), im.Disks...)
	out.Progress = im.progress(now)
	return out
}

// progress derives the percentage from the clock, so a poller sees it rise between polls.
func (im *image) progress(now time.Time) int {
	switch im.Status {
	case "Available":
		return 100
	case "Creating":
		total := im.end.Sub(im.start)
		if total <= 0 {
			return 99
		}
		p := int(now.Sub(im.start) * 100 / total)
		return min(max(p, 0), 99)
	default:
		return 0
	}
}
