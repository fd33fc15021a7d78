// Package catalog is the DR catalog: per policy and instance, the newest restorable image
// in each region, stored as JSON in OSS in the destination region so it survives the loss
// of the source region.
package catalog

import "time"

// Entry is the newest restorable (Available) image of one instance in one region.
type Entry struct {
	Policy        string            `json:"policy"`
	InstanceID    string            `json:"instanceId"`
	Region        string            `json:"region"` // where the image lives
	ImageID       string            `json:"imageId"`
	ImageName     string            `json:"imageName"`
	Role          string            `json:"role"` // "source" or "copy"
	SourceImageID string            `json:"sourceImageId,omitempty"`
	SourceRegion  string            `json:"sourceRegion,omitempty"`
	Slot          string            `json:"slot,omitempty"`
	CreationTime  time.Time         `json:"creationTime"`
	SizeGiB       int               `json:"sizeGiB"`
	Tags          map[string]string `json:"tags,omitempty"`
	// RPOSeconds: how old the protected data is at the time it became restorable here
	// (UpdatedAt of availability − creation time of the source image), as achieved.
	RPOSeconds int64     `json:"rpoSeconds"`
	UpdatedAt  time.Time `json:"updatedAt"`
}
