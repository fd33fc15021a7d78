package ecs

import "maps"

// The region's writers of indexed state: every image, snapshot and instance enters,
// changes (status, tags, usage) and leaves through these, under r.mu.

// copySrc names the source of a copy (CopyImage's conflict check).
type copySrc struct{ region, id string }

func newRegion(id, localName string, quota int) *region {
	r := &region{id: id, localName: localName, quota: quota, images: map[string]*image{},
		snapshots: map[string]*snapshot{}, instances: map[string]*instance{}, tokens: map[string]string{},
		selfNames: map[string]int{}, copying: map[copySrc]int{}, imageUsers: map[string]int{}}
	r.imgIdx = newTable(func(im *image) listKey { return listKey{im.CreationTime.UnixNano(), im.ID} },
		func(im *image) map[string]string { return im.Tags })
	r.snapIdx = newTable(func(sn *snapshot) listKey { return listKey{sn.CreationTime.UnixNano(), sn.ID} },
		func(sn *snapshot) map[string]string { return sn.Tags })
	r.instIdx = newTable(func(in *instance) listKey { return listKey{0, in.ID} },
		func(in *instance) map[string]string { return in.Tags })
	return r
}

func (im *image) copying() bool {
	return im.IsCopied && (im.Status == "Waiting" || im.Status == "Creating")
}

func (r *region) countImage(im *image, d int) {
	if im.OwnerAlias != "self" {
		return
	}
	r.customImages += d
	if im.Name != "" {
		if r.selfNames[im.Name] += d; r.selfNames[im.Name] <= 0 {
			delete(r.selfNames, im.Name)
		}
	}
	if im.copying() {
		k := copySrc{im.CopySourceRegion, im.CopySourceImageID}
		if r.copying[k] += d; r.copying[k] <= 0 {
			delete(r.copying, k)
		}
	}
}

// addImage puts a new image in the region (an existing id is replaced).
func (r *region) addImage(im *image) {
	if old := r.images[im.ID]; old != nil {
		r.removeImage(old)
	}
	r.images[im.ID] = im
	r.imgIdx.add(im)
	r.countImage(im, 1)
}

func (r *region) removeImage(im *image) {
	if r.images[im.ID] != im {
		return
	}
	r.countImage(im, -1)
	r.imgIdx.remove(im)
	delete(r.images, im.ID)
}

// updateImage runs mutate, which may change the image's status, tags or other fields
// but not its id or creation time.
func (r *region) updateImage(im *image, mutate func()) {
	if r.images[im.ID] != im {
		mutate()
		return
	}
	r.countImage(im, -1)
	r.imgIdx.update(im, mutate)
	r.countImage(im, 1)
}

func (r *region) addSnapshot(sn *snapshot) {
	if old := r.snapshots[sn.ID]; old != nil {
		r.removeSnapshot(old)
	}
	r.snapshots[sn.ID] = sn
	r.snapIdx.add(sn)
}

func (r *region) removeSnapshot(sn *snapshot) {
	if r.snapshots[sn.ID] != sn {
		return
	}
	r.snapIdx.remove(sn)
	delete(r.snapshots, sn.ID)
}

func (r *region) updateSnapshot(sn *snapshot, mutate func()) {
	if r.snapshots[sn.ID] != sn {
		mutate()
		return
	}
	r.snapIdx.update(sn, mutate)
}

func (r *region) addInstance(in *instance) {
	if old := r.instances[in.ID]; old != nil {
		r.removeInstance(old)
	}
	r.instances[in.ID] = in
	r.instIdx.add(in)
	r.imageUsers[in.ImageID]++
}

func (r *region) removeInstance(in *instance) {
	if r.instances[in.ID] != in {
		return
	}
	if r.imageUsers[in.ImageID]--; r.imageUsers[in.ImageID] <= 0 {
		delete(r.imageUsers, in.ImageID)
	}
	r.instIdx.remove(in)
	delete(r.instances, in.ID)
}

// updateInstance runs mutate, which may change the instance's status or tags but not
// its id or image.
func (r *region) updateInstance(in *instance, mutate func()) {
	if r.instances[in.ID] != in {
		mutate()
		return
	}
	r.instIdx.update(in, mutate)
}

// setTagsLocked changes a resource's tags through its table (TagResources, UntagResources).
func (r *region) setTagsLocked(typ, id string, mutate func(map[string]string)) {
	switch typ {
	case "instance":
		if in := r.instances[id]; in != nil {
			r.updateInstance(in, func() { mutate(in.Tags) })
		}
	case "image":
		if im := r.images[id]; im != nil {
			r.updateImage(im, func() { mutate(im.Tags) })
		}
	case "snapshot":
		if sn := r.snapshots[id]; sn != nil {
			r.updateSnapshot(sn, func() {
				if sn.sharedTags {
					sn.Tags, sn.sharedTags = maps.Clone(sn.Tags), false
				}
				mutate(sn.Tags)
			})
		}
	}
}
