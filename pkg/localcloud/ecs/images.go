package ecs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// Wire shapes (JSON tags of the SDK response structs).
type (
	tagJSON struct {
		TagKey   string `json:"TagKey"`
		TagValue string `json:"TagValue"`
	}
	tagsJSON struct {
		Tag []tagJSON `json:"Tag"`
	}
	diskMappingJSON struct {
		SnapshotId string `json:"SnapshotId"`
		Size       string `json:"Size"`
		Device     string `json:"Device"`
		Type       string `json:"Type"`
		Progress   string `json:"Progress"`
		Format     string `json:"Format"`
		Encrypted  bool   `json:"Encrypted"`
	}
	imageJSON struct {
		ImageId            string   `json:"ImageId"`
		ImageName          string   `json:"ImageName"`
		Description        string   `json:"Description"`
		Status             string   `json:"Status"`
		Progress           string   `json:"Progress"`
		ImageOwnerAlias    string   `json:"ImageOwnerAlias"`
		ImageOwnerId       int64    `json:"ImageOwnerId"`
		CreationTime       string   `json:"CreationTime"`
		Size               int      `json:"Size"`
		Usage              string   `json:"Usage"`
		IsCopied           bool     `json:"IsCopied"`
		IsPublic           bool     `json:"IsPublic"`
		OSType             string   `json:"OSType"`
		OSName             string   `json:"OSName"`
		Architecture       string   `json:"Architecture"`
		Platform           string   `json:"Platform"`
		BootMode           string   `json:"BootMode"`
		IsSelfShared       string   `json:"IsSelfShared"`
		Tags               tagsJSON `json:"Tags"`
		DiskDeviceMappings struct {
			DiskDeviceMapping []diskMappingJSON `json:"DiskDeviceMapping"`
		} `json:"DiskDeviceMappings"`
	}
	describeImagesResponse struct {
		RequestId  string `json:"RequestId"`
		RegionId   string `json:"RegionId"`
		TotalCount int    `json:"TotalCount"`
		PageNumber int    `json:"PageNumber"`
		PageSize   int    `json:"PageSize"`
		Images     struct {
			Image []imageJSON `json:"Image"`
		} `json:"Images"`
	}
	imageIDResponse struct {
		RequestId string `json:"RequestId"`
		ImageId   string `json:"ImageId"`
	}
	emptyResponse struct {
		RequestId string `json:"RequestId"`
	}
)

// apiTime is the ECS timestamp format (UTC, second precision).
func apiTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func tagList(m map[string]string) tagsJSON {
	keys := slices.Sorted(maps.Keys(m))
	out := tagsJSON{Tag: []tagJSON{}}
	for _, k := range keys {
		out.Tag = append(out.Tag, tagJSON{TagKey: k, TagValue: m[k]})
	}
	return out
}

func (s *Service) accountNum() int64 {
	n, _ := strconv.ParseInt(s.account, 10, 64)
	return n
}

func (r *region) imageUsage(id string) string {
	if r.imageUsers[id] > 0 {
		return "instance"
	}
	return "none"
}

func (r *region) customImageCount() int { return r.customImages }

// copyInProgress reports a copy of srcRegion/srcID into r still Waiting or Creating. ECS
// documents OperationDenied.ImageCopyConflict for "the same image copied concurrently";
// we read it as per destination region (copies to different regions may run together).
func (r *region) copyInProgress(srcRegion, srcID string) bool {
	return r.copying[copySrc{srcRegion, srcID}] > 0
}

func (r *region) nameTaken(name string) bool { return r.selfNames[name] > 0 }

// ---- CreateImage ----

// ClientToken reuse with different parameters answers IdempotenceParamNotMatch (400), the
// code ECS uses across its ClientToken-taking actions (RunInstances, CreateDisk, ...):
// it is a client error, and the alternative InvalidParamter.Conflict (403, typo
// included) appears only in older CreateImage docs. Clients should treat both alike.
func (s *Service) createImage(q *request) (any, *apiError) {
	token := q.get("ClientToken")
	if len(token) > 64 || !isASCII(token) {
		return nil, errf(400, "InvalidClientToken.ValueNotSupported", "The ClientToken %q is not valid: at most 64 ASCII characters.", token)
	}
	name, desc := q.get("ImageName"), q.get("Description")
	if name != "" {
		if aerr := checkImageName("ImageName", name); aerr != nil {
			return nil, aerr
		}
	}
	if aerr := checkDescription("Description", desc); aerr != nil {
		return nil, aerr
	}
	tags, aerr := q.tagsToSet()
	if aerr != nil {
		return nil, aerr
	}
	ddm, aerr := q.indexed("DiskDeviceMapping", 17)
	if aerr != nil {
		return nil, aerr
	}
	instID, snapID := q.get("InstanceId"), q.get("SnapshotId")

	r := s.regions[q.region]
	r.mu.Lock()
	now := s.env.Clock.Now()
	fp := fingerprint(q, "CreateImage")
	if token != "" {
		if id, ok := r.tokens[token]; ok {
			im := r.images[id]
			r.mu.Unlock()
			if im != nil && im.tokenKey != fp {
				return nil, errf(400, "IdempotenceParamNotMatch", "Request uses a client token %q from a previous request but is not identical to that request.", token)
			}
			return imageIDResponse{RequestId: q.reqID, ImageId: id}, nil
		}
	}
	var disks []ImageDisk
	var srcDisks []Disk
	var inst *instance
	switch {
	case instID != "":
		inst = r.instances[instID]
		if inst == nil {
			r.mu.Unlock()
			return nil, errf(404, "InvalidInstanceId.NotFound", "The specified InstanceId %q does not exist.", instID)
		}
		if inst.LockReason != "" {
			r.mu.Unlock()
			return nil, errf(400, "InstanceLockedForSecurity", "The specified operation is denied as your instance is locked for security reasons (%s).", inst.LockReason)
		}
		if inst.Status != "Running" && inst.Status != "Stopped" {
			r.mu.Unlock()
			return nil, errf(400, "IncorrectInstanceStatus", "The current status of the instance %q (%s) does not support this operation.", instID, inst.Status)
		}
		srcDisks = inst.Disks
	case len(ddm) > 0 || snapID != "":
		ids := []string{snapID}
		if len(ddm) > 0 {
			ids = nil
			for _, n := range sortedKeys(ddm) {
				ids = append(ids, ddm[n]["SnapshotId"])
			}
		}
		for i, id := range ids {
			sn := r.snapshots[id]
			if id == "" || sn == nil {
				r.mu.Unlock()
				return nil, errf(404, "InvalidSnapshotId.NotFound", "The specified SnapshotId %q does not exist.", id)
			}
			if sn.Status != "accomplished" {
				r.mu.Unlock()
				return nil, errf(403, "InvalidSnapshotId.NotReady", "The specified snapshot %q has not completed yet.", id)
			}
			typ := "data"
			if i == 0 {
				typ = "system"
			}
			srcDisks = append(srcDisks, Disk{ID: sn.SourceDiskID, Type: typ, SizeGiB: sn.SourceDiskSizeGiB, Category: sn.Category,
				Device: "/dev/xvd" + string(rune('a'+i))})
		}
	default:
		r.mu.Unlock()
		return nil, errf(400, "MissingParameter", "One of InstanceId, DiskDeviceMapping or SnapshotId is required.")
	}
	if name != "" && r.nameTaken(name) {
		r.mu.Unlock()
		return nil, errf(400, "InvalidImageName.Duplicated", "The specified Image name %q has already been used.", name)
	}
	if r.customImageCount() >= r.quota {
		r.mu.Unlock()
		return nil, errf(403, "QuotaExceed.Image", "The Image Quota exceeds (%d in %s).", r.quota, r.id)
	}

	total := 0
	im := &image{Image: Image{ID: newImageID(), RegionID: r.id, Name: name, Description: desc, Status: "Creating",
		OwnerAlias: "self", CreationTime: now, SourceInstanceID: instID, OSType: "linux", Architecture: "x86_64",
		Platform: "Aliyun", ClientToken: token, Tags: s.internTags(tags)}, tokenKey: fp}
	if v := q.get("Architecture"); v != "" {
		im.Architecture = v
	}
	if v := q.get("Platform"); v != "" {
		im.Platform = v
	}
	if inst != nil {
		im.OSType = inst.OSType
	}
	for _, d := range srcDisks {
		sn := &snapshot{Snapshot: Snapshot{ID: newSnapshotID(), RegionID: r.id, Status: "progressing", SourceDiskID: d.ID,
			SourceDiskType: d.Type, SourceDiskSizeGiB: d.SizeGiB, Category: "standard", Usage: "image", ImageID: im.ID,
			CreationTime: now, Tags: map[string]string{}}}
		r.addSnapshot(sn)
		disks = append(disks, ImageDisk{SnapshotID: sn.ID, Device: d.Device, Type: d.Type, SizeGiB: d.SizeGiB})
		total += d.SizeGiB
	}
	for _, d := range disks {
		if d.Type == "system" {
			im.SizeGiB = d.SizeGiB
		}
	}
	im.Disks = disks
	fail := inst != nil && inst.FailImages
	if inst != nil && inst.failNext > 0 {
		inst.failNext--
		fail = true
	}
	dur := time.Duration(s.seed.Timing.CreateBase) + time.Duration(total)*time.Duration(s.seed.Timing.CreatePerGiB)
	im.start, im.end = now, now.Add(dur)
	r.addImage(im)
	if token != "" {
		r.tokens[token] = im.ID
	}
	regionID, id := r.id, im.ID
	im.timer = s.env.Clock.AfterFunc(im.end, func() { s.finishCreate(regionID, id, fail) })
	ev := s.imageEvent(r.id, im.ID, "Creating")
	r.mu.Unlock()
	s.publishAll([]core.Event{ev})
	return imageIDResponse{RequestId: q.reqID, ImageId: im.ID}, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] > 0x7e || s[i] < 0x20 {
			return false
		}
	}
	return true
}

// commonParams are the gateway parameters that differ between retries of one call.
var commonParams = map[string]bool{"Signature": true, "SignatureNonce": true, "Timestamp": true, "AccessKeyId": true,
	"SecurityToken": true, "SignatureMethod": true, "SignatureVersion": true, "SignatureType": true, "Format": true,
	"Version": true, "Action": true, "BearerToken": true}

// fingerprint identifies what a call asks for, so a ClientToken retry can be told from a conflict.
func fingerprint(q *request, action string) string {
	h := sha256.New()
	h.Write([]byte(action))
	for _, k := range slices.Sorted(maps.Keys(q.params)) {
		if commonParams[k] {
			continue
		}
		fmt.Fprintf(h, "\x00%s=%s", k, strings.Join(q.params[k], "\x01"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// finishCreate runs on the clock when a CreateImage is done.
func (s *Service) finishCreate(regionID, id string, fail bool) {
	r := s.regions[regionID]
	r.mu.Lock()
	im := r.images[id]
	if im == nil || im.Status != "Creating" {
		r.mu.Unlock()
		return
	}
	state, snapState := "Available", "accomplished"
	if fail {
		state, snapState = "CreateFailed", "failed"
	}
	r.updateImage(im, func() { im.Status, im.timer = state, nil })
	for _, d := range im.Disks {
		if sn := r.snapshots[d.SnapshotID]; sn != nil {
			r.updateSnapshot(sn, func() {
				sn.Status = snapState
				if !fail {
					sn.Progress = 100
				}
			})
		}
	}
	ev := s.imageEvent(regionID, id, state)
	r.mu.Unlock()
	s.publishAll([]core.Event{ev})
}

// ---- DescribeImages ----

var ownerAliases = map[string]bool{"system": true, "self": true, "others": true, "marketplace": true}

func (s *Service) describeImages(q *request) (any, *apiError) {
	pg, aerr := q.pageNumbers() // DescribeImages has no NextToken paging
	if aerr != nil {
		return nil, aerr
	}
	statuses := commaList(q.get("Status"))
	if len(statuses) == 0 {
		statuses = []string{"Available"} // the real default hides Creating/Waiting images
	}
	ids := commaList(q.get("ImageId"))
	alias := q.get("ImageOwnerAlias")
	if alias != "" && !ownerAliases[alias] {
		return nil, errf(400, "InvalidImageOwnerAlias.ValueNotSupported", "The specified ImageOwnerAlias %q is not supported (system, self, others, marketplace).", alias)
	}
	usage := q.get("Usage")
	if usage != "" && usage != "instance" && usage != "none" {
		return nil, errf(400, "InvalidUsage.ValueNotSupported", "The specified Usage %q is not supported (instance, none).", usage)
	}
	tagF, aerr := q.tags()
	if aerr != nil {
		return nil, aerr
	}
	name, snapID := q.get("ImageName"), q.get("SnapshotId")
	osType, arch := q.get("OSType"), q.get("Architecture")

	match := func(im *image) bool {
		switch {
		case !slices.Contains(statuses, im.Status),
			len(ids) > 0 && !slices.Contains(ids, im.ID),
			alias != "" && im.OwnerAlias != alias,
			name != "" && !strings.Contains(im.Name, name), // ImageName is a fuzzy match
			osType != "" && !strings.EqualFold(im.OSType, osType),
			arch != "" && im.Architecture != arch,
			!matchTags(im.Tags, tagF):
			return false
		}
		return snapID == "" || slices.ContainsFunc(im.Disks, func(d ImageDisk) bool { return d.SnapshotID == snapID })
	}

	r := s.regions[q.region]
	r.mu.Lock()
	defer r.mu.Unlock()
	now := s.env.Clock.Now()
	iq := query[image]{eq: tagEq(tagF), lookup: func(id string) *image { return r.images[id] }}
	switch {
	case len(ids) > 0:
		iq.ids = ids
	case snapID != "":
		iq.ids = []string{} // an image holds its own snapshots: the snapshot names the one candidate
		if sn := r.snapshots[snapID]; sn != nil && sn.ImageID != "" {
			iq.ids = []string{sn.ImageID}
		}
	}
	if usage != "" {
		// Usage depends on the instances, not on the image: filtered per call, never cached.
		iq.match = func(im *image) bool { return match(im) && r.imageUsage(im.ID) == usage }
	} else {
		iq.match = match
		iq.cacheKey = filterKey(strings.Join(statuses, ","), alias, name, strings.ToLower(osType), arch, tagFilterKey(tagF))
	}
	total, pageItems := r.imgIdx.run(iq, pg.offset, pg.size)
	pg.window(total)
	resp := describeImagesResponse{RequestId: q.reqID, RegionId: r.id, TotalCount: total, PageNumber: pg.number, PageSize: pg.size}
	resp.Images.Image = []imageJSON{}
	for _, im := range pageItems {
		resp.Images.Image = append(resp.Images.Image, s.imageJSON(r, im, now))
	}
	return resp, nil
}

func (s *Service) imageJSON(r *region, im *image, now time.Time) imageJSON {
	p := im.progress(now)
	out := imageJSON{ImageId: im.ID, ImageName: im.Name, Description: im.Description, Status: im.Status,
		Progress: fmt.Sprintf("%d%%", p), ImageOwnerAlias: im.OwnerAlias, CreationTime: apiTime(im.CreationTime),
		Size: im.SizeGiB, Usage: r.imageUsage(im.ID), IsCopied: im.IsCopied, OSType: im.OSType, OSName: im.Name,
		Architecture: im.Architecture, Platform: im.Platform, BootMode: "BIOS", IsSelfShared: "False", Tags: tagList(im.Tags)}
	if im.OwnerAlias == "self" {
		out.ImageOwnerId = s.accountNum()
	} else {
		out.IsPublic = true
	}
	out.DiskDeviceMappings.DiskDeviceMapping = []diskMappingJSON{}
	for _, d := range im.Disks {
		out.DiskDeviceMappings.DiskDeviceMapping = append(out.DiskDeviceMappings.DiskDeviceMapping, diskMappingJSON{
			SnapshotId: d.SnapshotID, Size: strconv.Itoa(d.SizeGiB), Device: d.Device, Type: d.Type,
			Progress: fmt.Sprintf("%d%%", p), Format: "qcow2", Encrypted: im.Encrypted})
	}
	return out
}

// ---- CopyImage ----

func (s *Service) copyImage(q *request) (any, *apiError) {
	srcID, dest := q.get("ImageId"), q.get("DestinationRegionId")
	if srcID == "" {
		return nil, missing("ImageId")
	}
	if dest == "" {
		return nil, missing("DestinationRegionId")
	}
	name, desc := q.get("DestinationImageName"), q.get("DestinationDescription")
	if name != "" {
		if aerr := checkImageName("DestinationImageName", name); aerr != nil {
			return nil, aerr
		}
	}
	if aerr := checkDescription("DestinationDescription", desc); aerr != nil {
		return nil, aerr
	}
	encrypted, aerr := q.boolParam("Encrypted")
	if aerr != nil {
		return nil, aerr
	}
	kms := q.get("KMSKeyId")
	if kms != "" && !encrypted {
		return nil, errf(400, "InvalidParameter.EncryptedIllegal", "KMSKeyId %q is only valid with Encrypted=true.", kms)
	}
	tags, aerr := q.tagsToSet()
	if aerr != nil {
		return nil, aerr
	}
	if dest == q.region {
		return nil, errf(403, "IncorrectDestinationRegion", "The destination region %q is the same as the source region.", dest)
	}

	src := s.regions[q.region]
	dst := s.regions[dest]
	if dst == nil {
		return nil, errf(400, "DestinationRegion.NotFound", "The specified DestinationRegionId %q does not exist.", dest)
	}
	unlock := lockPair(src, dst)
	im := src.images[srcID]
	if im == nil || im.OwnerAlias != "self" {
		unlock()
		return nil, errf(404, "InvalidImageId.NotFound", "The specified ImageId %q does not exist in %s.", srcID, q.region)
	}
	if im.Status != "Available" {
		unlock()
		return nil, errf(400, "IncorrectImageStatus", "The image not available (image %s is %s).", srcID, im.Status)
	}
	if name != "" && dst.nameTaken(name) {
		unlock()
		return nil, errf(400, "InvalidImageName.Duplicated", "The specified image name %q is already in use in the target region %s.", name, dest)
	}
	if !s.seed.AllowConcurrentCopies && dst.copyInProgress(src.id, im.ID) {
		unlock()
		return nil, errf(400, "OperationDenied.ImageCopyConflict", "The image %s is already being copied to %s.", srcID, dest)
	}
	if dst.customImageCount() >= dst.quota {
		unlock()
		return nil, errf(403, "QuotaExceed.Image", "The number of images exceeds the limit (%d) in %s.", dst.quota, dest)
	}
	now := s.env.Clock.Now()
	cp := &image{Image: Image{ID: newImageID(), RegionID: dest, Name: name, Description: desc, Status: "Waiting",
		OwnerAlias: "self", SizeGiB: im.SizeGiB, CreationTime: now, SourceInstanceID: im.SourceInstanceID,
		IsCopied: true, CopySourceRegion: src.id, CopySourceImageID: im.ID, Encrypted: encrypted || im.Encrypted,
		KMSKeyID: kms, OSType: im.OSType, Architecture: im.Architecture, Platform: im.Platform, Tags: s.internTags(tags)}}
	if cp.Description == "" {
		cp.Description = im.Description
	}
	total := 0
	for _, d := range im.Disks {
		sn := &snapshot{Snapshot: Snapshot{ID: newSnapshotID(), RegionID: dest, Status: "progressing", SourceDiskType: d.Type,
			SourceDiskSizeGiB: d.SizeGiB, Category: "standard", Usage: "image", ImageID: cp.ID, CreationTime: now,
			Encrypted: cp.Encrypted, KMSKeyID: kms, SourceRegionID: src.id, SourceSnapshotID: d.SnapshotID, Tags: map[string]string{}}}
		if o := src.snapshots[d.SnapshotID]; o != nil {
			sn.SourceDiskID = o.SourceDiskID
		}
		dst.addSnapshot(sn)
		cp.Disks = append(cp.Disks, ImageDisk{SnapshotID: sn.ID, Device: d.Device, Type: d.Type, SizeGiB: d.SizeGiB})
		total += d.SizeGiB
	}
	cp.copyDur = time.Duration(s.seed.Timing.CopyBase) + time.Duration(total)*time.Duration(s.seed.Timing.CopyPerGiB)
	dst.addImage(cp)
	var ev core.Event
	if dst.activeCopies < s.seed.CopyConcurrency {
		ev = s.startCopyLocked(dst, cp)
	} else {
		dst.waiting = append(dst.waiting, cp.ID)
		ev = s.imageEvent(dest, cp.ID, "Waiting")
	}
	unlock()
	s.publishAll([]core.Event{ev})
	return imageIDResponse{RequestId: q.reqID, ImageId: cp.ID}, nil
}

// startCopyLocked moves a copy into Creating and takes one of the destination's slots.
func (s *Service) startCopyLocked(dst *region, cp *image) core.Event {
	now := s.env.Clock.Now()
	dst.activeCopies++
	dst.updateImage(cp, func() { cp.Status, cp.start, cp.end = "Creating", now, now.Add(cp.copyDur) })
	regionID, id := dst.id, cp.ID
	cp.timer = s.env.Clock.AfterFunc(cp.end, func() { s.finishCopy(regionID, id) })
	return s.imageEvent(dst.id, cp.ID, "Creating")
}

// releaseSlotLocked frees a copy slot and starts queued copies; it returns their events.
func (s *Service) releaseSlotLocked(dst *region) []core.Event {
	dst.activeCopies--
	var evs []core.Event
	for dst.activeCopies < s.seed.CopyConcurrency && len(dst.waiting) > 0 {
		id := dst.waiting[0]
		dst.waiting = dst.waiting[1:]
		if cp := dst.images[id]; cp != nil && cp.Status == "Waiting" {
			evs = append(evs, s.startCopyLocked(dst, cp))
		}
	}
	return evs
}

func (s *Service) finishCopy(regionID, id string) {
	dst := s.regions[regionID]
	dst.mu.Lock()
	cp := dst.images[id]
	if cp == nil || cp.Status != "Creating" {
		dst.mu.Unlock()
		return
	}
	state, snapState := "Available", "accomplished"
	if dst.failCopies > 0 { // FailNextCopies
		dst.failCopies--
		state, snapState = "CreateFailed", "failed"
	}
	dst.updateImage(cp, func() { cp.Status, cp.timer = state, nil })
	for _, d := range cp.Disks {
		if sn := dst.snapshots[d.SnapshotID]; sn != nil {
			dst.updateSnapshot(sn, func() {
				sn.Status = snapState
				if state == "Available" {
					sn.Progress = 100
				}
			})
		}
	}
	evs := append([]core.Event{s.imageEvent(regionID, id, state)}, s.releaseSlotLocked(dst)...)
	dst.mu.Unlock()
	s.publishAll(evs)
}

// removeCopyLocked deletes an unfinished copy with its snapshots (CancelCopyImage).
func (s *Service) removeCopyLocked(r *region, im *image) []core.Event {
	if im.timer != nil {
		im.timer.Stop()
		im.timer = nil
	}
	var evs []core.Event
	switch im.Status {
	case "Creating":
		r.removeImage(im)
		evs = s.releaseSlotLocked(r)
	case "Waiting":
		r.removeImage(im)
		r.waiting = slices.DeleteFunc(r.waiting, func(id string) bool { return id == im.ID })
	}
	for _, d := range im.Disks {
		if sn := r.snapshots[d.SnapshotID]; sn != nil {
			r.removeSnapshot(sn)
		}
	}
	return append([]core.Event{s.imageEvent(r.id, im.ID, "Deleted")}, evs...)
}

// ---- CancelCopyImage ----

func (s *Service) cancelCopyImage(q *request) (any, *apiError) {
	id := q.get("ImageId")
	if id == "" {
		return nil, missing("ImageId")
	}
	r := s.regions[q.region]
	r.mu.Lock()
	im := r.images[id]
	switch {
	case im == nil || im.OwnerAlias != "self":
		r.mu.Unlock()
		return nil, errf(404, "InvalidImageId.NotFound", "The specified ImageId %q does not exist in %s.", id, q.region)
	case !im.IsCopied:
		r.mu.Unlock()
		return nil, errf(400, "ImageCreatedNotFromCopy", "The image %q was not created by CopyImage.", id)
	case im.Status == "Available":
		r.mu.Unlock()
		return nil, errf(400, "IncorrectImageStatus", "The image is copied finished.")
	case im.Status != "Creating" && im.Status != "Waiting":
		r.mu.Unlock()
		return nil, errf(400, "IncorrectImageStatus", "The image is not coping (status %s).", im.Status)
	}
	evs := s.removeCopyLocked(r, im)
	r.mu.Unlock()
	s.publishAll(evs)
	return emptyResponse{RequestId: q.reqID}, nil
}

// ---- DeleteImage ----

// Deleting the source of a copy in progress is allowed, as in real ECS: the copy works
// from data already transferred and finishes normally.
func (s *Service) deleteImage(q *request) (any, *apiError) {
	id := q.get("ImageId")
	if id == "" {
		return nil, missing("ImageId")
	}
	force, aerr := q.boolParam("Force")
	if aerr != nil {
		return nil, aerr
	}
	r := s.regions[q.region]
	r.mu.Lock()
	im := r.images[id]
	if im == nil || im.OwnerAlias != "self" {
		r.mu.Unlock()
		if s.seed.IgnoreUnknownImageOnDelete && im == nil {
			return emptyResponse{RequestId: q.reqID}, nil
		}
		return nil, errf(404, "InvalidImageId.NotFound", "The specified ImageId %q does not exist in %s.", id, q.region)
	}
	switch {
	case im.IsCopied && (im.Status == "Creating" || im.Status == "Waiting"):
		r.mu.Unlock()
		return nil, errf(403, "OperationDenied.ImageCopying", "The image %q is being copied; cancel the copy with CancelCopyImage.", id)
	case im.Status == "Creating":
		r.mu.Unlock()
		return nil, errf(403, "ImageIsCreating", "The image %q is being created.", id)
	case !force && r.imageUsage(id) == "instance":
		r.mu.Unlock()
		return nil, errf(403, "ImageUsingByInstance", "The specified image %q has been used to create instances; set Force=true to delete it.", id)
	}
	r.removeImage(im)
	for _, d := range im.Disks {
		// Snapshots outlive the image; they become ordinary snapshots the owner pays for.
		if sn := r.snapshots[d.SnapshotID]; sn != nil {
			r.updateSnapshot(sn, func() { sn.Usage, sn.ImageID = "none", "" })
		}
	}
	ev := s.imageEvent(r.id, id, "Deleted")
	r.mu.Unlock()
	s.publishAll([]core.Event{ev})
	return emptyResponse{RequestId: q.reqID}, nil
}

// lockPair locks two distinct regions in id order (no deadlock between opposite copies)
// and returns the unlock.
func lockPair(a, b *region) func() {
	if b.id < a.id {
		a, b = b, a
	}
	a.mu.Lock()
	b.mu.Lock()
	return func() {
		b.mu.Unlock()
		a.mu.Unlock()
	}
}
