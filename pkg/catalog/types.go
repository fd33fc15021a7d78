// Package catalog is the DR catalog: per policy and instance, the newest restorable image
// in each region, stored as JSON in OSS in the destination region so it survives the loss
// of the source region.
package catalog

import "time"

// Entry is the newest restorable (Available) image of one instance in one region.
type Entry struct {
	Policy        string    `json:"policy"`
	InstanceID    string    `json:"instanceId"`
	Region        string    `json:"region"` // where the image lives
	ImageID       string    `json:"imageId"`
	ImageName     string    `json:"imageName"`
	Role          string    `json:"role"` // "source" or "copy"
	SourceImageID string    `json:"sourceImageId,omitempty"`
	SourceRegion  string    `json:"sourceRegion,omitempty"`
	Slot          string    `json:"slot,omitempty"`
	CreationTime  time.Time `json:"creationTime"`
	// DataTime is when the protected data was captured: the creation time of the source
	// image (for a copy, carried as lineage). The catalog orders by it, never by when a
	// copy finished; zero means CreationTime (entries written before it existed).
	DataTime time.Time         `json:"dataTime,omitzero"`
	SizeGiB  int               `json:"sizeGiB"`
	Tags     map[string]string `json:"tags,omitempty"`
	// RPOSeconds: how old the protected data is at the time it became restorable here
	// (UpdatedAt of availability − creation time of the source image), as achieved.
	RPOSeconds int64     `json:"rpoSeconds"`
	UpdatedAt  time.Time `json:"updatedAt"`
	// Restore is the restore metadata of issue 12 (nil: restore by image id alone).
	Restore *RestoreSpec `json:"restore,omitempty"`
}

// dataTime is the entry's order key: DataTime, or CreationTime when DataTime is unknown.
func (e Entry) dataTime() time.Time {
	if e.DataTime.IsZero() {
		return e.CreationTime
	}
	return e.DataTime
}
