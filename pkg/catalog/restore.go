package catalog

// RestoreSpec is what a restore needs besides the image (issue 12 fills it in: instance
// type, network, disks…). It travels in Entry.Restore; an entry without it is still
// restorable by image id alone.
type RestoreSpec struct{}
