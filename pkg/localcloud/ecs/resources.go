package ecs

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// ---- DescribeRegions ----

type regionJSON struct {
	RegionId       string `json:"RegionId"`
	LocalName      string `json:"LocalName"`
	RegionEndpoint string `json:"RegionEndpoint"`
	Status         string `json:"Status"`
}

func (s *Service) describeRegions(q *request) (any, *apiError) {
	var resp struct {
		RequestId string `json:"RequestId"`
		Regions   struct {
			Region []regionJSON `json:"Region"`
		} `json:"Regions"`
	}
	resp.RequestId = q.reqID
	resp.Regions.Region = []regionJSON{}
	for _, id := range s.order {
		r := s.regions[id]
		resp.Regions.Region = append(resp.Regions.Region, regionJSON{RegionId: id, LocalName: r.localName,
			RegionEndpoint: "ecs." + id + ".aliyuncs.com", Status: "available"})
	}
	return resp, nil
}

// ---- DescribeInstances ----

type instanceJSON struct {
	InstanceId   string   `json:"InstanceId"`
	InstanceName string   `json:"InstanceName"`
	Status       string   `json:"Status"`
	ImageId      string   `json:"ImageId"`
	RegionId     string   `json:"RegionId"`
	ZoneId       string   `json:"ZoneId"`
	InstanceType string   `json:"InstanceType"`
	OSType       string   `json:"OSType"`
	CreationTime string   `json:"CreationTime"`
	Tags         tagsJSON `json:"Tags"`
	instanceNetJSON
	OperationLocks struct {
		LockReason []lockJSON `json:"LockReason"`
	} `json:"OperationLocks"`
}

type lockJSON struct {
	LockReason string `json:"LockReason"`
}

type describeInstancesResponse struct {
	RequestId  string `json:"RequestId"`
	TotalCount int    `json:"TotalCount"`
	PageNumber int    `json:"PageNumber"`
	PageSize   int    `json:"PageSize"`
	NextToken  string `json:"NextToken"`
	Instances  struct {
		Instance []instanceJSON `json:"Instance"`
	} `json:"Instances"`
}

func (s *Service) describeInstances(q *request) (any, *apiError) {
	ids, aerr := q.jsonArrayParam("InstanceIds", "InvalidInstanceIds.Malformed", 100)
	if aerr != nil {
		return nil, aerr
	}
	pg, aerr := q.paging()
	if aerr != nil {
		return nil, aerr
	}
	tagF, aerr := q.tags()
	if aerr != nil {
		return nil, aerr
	}
	status, name, zone, imageID := q.get("Status"), q.get("InstanceName"), q.get("ZoneId"), q.get("ImageId")
	if status != "" && !instanceStatuses[status] {
		return nil, errf(400, "InvalidStatus.ValueNotSupported", "The specified Status %q is not supported.", status)
	}
	r := s.regions[q.region]
	r.mu.Lock()
	defer r.mu.Unlock()
	iq := query[instance]{ids: ids, lookup: func(id string) *instance { return r.instances[id] }, eq: tagEq(tagF),
		cacheKey: filterKey(status, name, zone, imageID, tagFilterKey(tagF))}
	iq.match = func(in *instance) bool {
		switch {
		case ids != nil && !slices.Contains(ids, in.ID),
			status != "" && in.Status != status,
			name != "" && !nameMatch(in.Name, name),
			zone != "" && in.ZoneID != zone,
			imageID != "" && in.ImageID != imageID,
			!matchTags(in.Tags, tagF):
			return false
		}
		return true
	}
	total, items := r.instIdx.run(iq, pg.offset, pg.size)
	pg.window(total)
	resp := describeInstancesResponse{RequestId: q.reqID, TotalCount: total, PageNumber: pg.number, PageSize: pg.size}
	resp.Instances.Instance = []instanceJSON{}
	for _, in := range items {
		ij := instanceJSON{InstanceId: in.ID, InstanceName: in.Name, Status: in.Status, ImageId: in.ImageID,
			RegionId: in.RegionID, ZoneId: in.ZoneID, InstanceType: in.InstanceType, OSType: in.OSType,
			CreationTime: apiTime(in.CreationTime), Tags: tagList(in.Tags), instanceNetJSON: netJSON(&in.Instance)}
		ij.OperationLocks.LockReason = []lockJSON{}
		if in.LockReason != "" {
			ij.OperationLocks.LockReason = append(ij.OperationLocks.LockReason, lockJSON{LockReason: in.LockReason})
		}
		resp.Instances.Instance = append(resp.Instances.Instance, ij)
	}
	resp.NextToken = pg.nextToken()
	return resp, nil
}

// nameMatch supports the "*" wildcard of InstanceName filters (e.g. "web*").
func nameMatch(have, want string) bool {
	if p, ok := strings.CutSuffix(want, "*"); ok {
		return strings.HasPrefix(have, p)
	}
	return have == want
}

// ---- DescribeSnapshots ----

type snapshotJSON struct {
	SnapshotId       string   `json:"SnapshotId"`
	SnapshotName     string   `json:"SnapshotName"`
	Status           string   `json:"Status"`
	Progress         string   `json:"Progress"`
	SourceDiskId     string   `json:"SourceDiskId"`
	SourceDiskSize   string   `json:"SourceDiskSize"`
	SourceDiskType   string   `json:"SourceDiskType"`
	Category         string   `json:"Category"`
	SnapshotType     string   `json:"SnapshotType"`
	Usage            string   `json:"Usage"`
	CreationTime     string   `json:"CreationTime"`
	Encrypted        bool     `json:"Encrypted"`
	KMSKeyId         string   `json:"KMSKeyId"`
	RegionId         string   `json:"RegionId"`
	SourceRegionId   string   `json:"SourceRegionId"`
	SourceSnapshotId string   `json:"SourceSnapshotId"`
	Available        bool     `json:"Available"`
	Tags             tagsJSON `json:"Tags"`
}

type describeSnapshotsResponse struct {
	RequestId  string `json:"RequestId"`
	TotalCount int    `json:"TotalCount"`
	PageNumber int    `json:"PageNumber"`
	PageSize   int    `json:"PageSize"`
	NextToken  string `json:"NextToken"`
	Snapshots  struct {
		Snapshot []snapshotJSON `json:"Snapshot"`
	} `json:"Snapshots"`
}

var snapshotStatuses = map[string]bool{"progressing": true, "accomplished": true, "failed": true, "all": true}
var snapshotUsages = map[string]bool{"image": true, "disk": true, "image_disk": true, "none": true}

func (s *Service) describeSnapshots(q *request) (any, *apiError) {
	ids, aerr := q.jsonArrayParam("SnapshotIds", "InvalidSnapshotIds.Malformed", 100)
	if aerr != nil {
		return nil, aerr
	}
	pg, aerr := q.paging()
	if aerr != nil {
		return nil, aerr
	}
	tagF, aerr := q.tags()
	if aerr != nil {
		return nil, aerr
	}
	status, usage := q.get("Status"), q.get("Usage")
	if status != "" && !snapshotStatuses[status] {
		return nil, errf(400, "InvalidStatus.ValueNotSupported", "The specified Status %q is not supported (progressing, accomplished, failed, all).", status)
	}
	if usage != "" && !snapshotUsages[usage] {
		return nil, errf(400, "InvalidUsage.ValueNotSupported", "The specified Usage %q is not supported (image, disk, image_disk, none).", usage)
	}
	instID, diskID, name := q.get("InstanceId"), q.get("DiskId"), q.get("SnapshotName")
	r := s.regions[q.region]
	r.mu.Lock()
	defer r.mu.Unlock()
	var instDisks []string
	if instID != "" {
		if in := r.instances[instID]; in != nil {
			for _, d := range in.Disks {
				instDisks = append(instDisks, d.ID)
			}
		}
	}
	// Only stored fields are filtered (progress, derived from the clock, is not), so a
	// view stays exact; InstanceId filters name a few disks and are not cached.
	sq := query[snapshot]{ids: ids, lookup: func(id string) *snapshot { return r.snapshots[id] }, eq: tagEq(tagF)}
	sq.match = func(sn *snapshot) bool {
		switch {
		case ids != nil && !slices.Contains(ids, sn.ID),
			status != "" && status != "all" && sn.Status != status,
			usage != "" && sn.Usage != usage,
			instID != "" && !slices.Contains(instDisks, sn.SourceDiskID),
			diskID != "" && sn.SourceDiskID != diskID,
			name != "" && sn.Name != name,
			!matchTags(sn.Tags, tagF):
			return false
		}
		return true
	}
	if instID == "" {
		sq.cacheKey = filterKey(status, usage, diskID, name, tagFilterKey(tagF))
	}
	now := s.env.Clock.Now()
	total, items := r.snapIdx.run(sq, pg.offset, pg.size)
	pg.window(total)
	match := make([]Snapshot, 0, len(items))
	for _, sn := range items {
		match = append(match, r.snapshotView(sn, now))
	}
	resp := describeSnapshotsResponse{RequestId: q.reqID, TotalCount: total, PageNumber: pg.number, PageSize: pg.size}
	resp.Snapshots.Snapshot = []snapshotJSON{}
	for _, v := range match {
		typ := "user"
		if v.SourceSnapshotID != "" {
			typ = "copied"
		}
		resp.Snapshots.Snapshot = append(resp.Snapshots.Snapshot, snapshotJSON{SnapshotId: v.ID, SnapshotName: v.Name,
			Status: v.Status, Progress: fmt.Sprintf("%d%%", v.Progress), SourceDiskId: v.SourceDiskID,
			SourceDiskSize: strconv.Itoa(v.SourceDiskSizeGiB), SourceDiskType: v.SourceDiskType, Category: v.Category,
			SnapshotType: typ, Usage: v.Usage, CreationTime: apiTime(v.CreationTime), Encrypted: v.Encrypted,
			KMSKeyId: v.KMSKeyID, RegionId: v.RegionID, SourceRegionId: v.SourceRegionID, SourceSnapshotId: v.SourceSnapshotID,
			Available: v.Status == "accomplished", Tags: tagList(v.Tags)})
	}
	resp.NextToken = pg.nextToken()
	return resp, nil
}

// ---- DeleteSnapshot ----

func (s *Service) deleteSnapshot(q *request) (any, *apiError) {
	id := q.get("SnapshotId")
	if id == "" {
		return nil, missing("SnapshotId")
	}
	if _, aerr := q.boolParam("Force"); aerr != nil {
		return nil, aerr
	}
	r := s.regions[q.region]
	r.mu.Lock()
	defer r.mu.Unlock()
	sn := r.snapshots[id]
	if sn == nil {
		return emptyResponse{RequestId: q.reqID}, nil // an unknown snapshot is ignored, as documented
	}
	if sn.ImageID != "" {
		// Force does not override this: the image must go first.
		return nil, errf(403, "SnapshotCreatedImage", "The snapshot %q has been used to create image %s; delete the image first.", id, sn.ImageID)
	}
	r.removeSnapshot(sn)
	return emptyResponse{RequestId: q.reqID}, nil
}

// ---- tags ----

// tagsOfLocked returns the live tag map of a resource, or nil when it does not exist.
func (r *region) tagsOfLocked(typ, id string) map[string]string {
	switch typ {
	case "instance":
		if in := r.instances[id]; in != nil {
			return in.Tags
		}
	case "image":
		if im := r.images[id]; im != nil && im.OwnerAlias == "self" {
			return im.Tags
		}
	case "snapshot":
		if sn := r.snapshots[id]; sn != nil {
			return sn.Tags
		}
	}
	return nil
}

func (r *region) idsOfLocked(typ string) []string {
	var ids []string
	switch typ {
	case "instance":
		ids = slices.Collect(maps.Keys(r.instances))
	case "image":
		for id, im := range r.images {
			if im.OwnerAlias == "self" {
				ids = append(ids, id)
			}
		}
	case "snapshot":
		ids = slices.Collect(maps.Keys(r.snapshots))
	}
	slices.Sort(ids)
	return ids
}

// resourceType reads ResourceType; the API takes it in lower case, the SDK docs show both.
func (q *request) resourceType() (string, *apiError) {
	t := strings.ToLower(q.get("ResourceType"))
	switch t {
	case "":
		return "", missing("ResourceType")
	case "instance", "image", "snapshot":
		return t, nil
	}
	return "", errf(400, "InvalidResourceType.NotSupported", "The ResourceType %q is not supported by the local cloud (instance, image, snapshot).", q.get("ResourceType"))
}

func (q *request) resourceIDs(max int) ([]string, *apiError) {
	idx, aerr := q.indexed("ResourceId", max)
	if aerr != nil {
		return nil, aerr
	}
	var ids []string
	for _, n := range sortedKeys(idx) {
		if v := idx[n][""]; v != "" {
			ids = append(ids, v)
		}
	}
	return ids, nil
}

func (s *Service) tagResources(q *request) (any, *apiError) {
	typ, aerr := q.resourceType()
	if aerr != nil {
		return nil, aerr
	}
	ids, aerr := q.resourceIDs(50)
	if aerr != nil {
		return nil, aerr
	}
	if len(ids) == 0 {
		return nil, missing("ResourceId.N")
	}
	tags, aerr := q.tagsToSet()
	if aerr != nil {
		return nil, aerr
	}
	if len(tags) == 0 {
		return nil, missing("Tag.N")
	}
	r := s.regions[q.region]
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids { // all or nothing
		if r.tagsOfLocked(typ, id) == nil {
			return nil, errf(404, "InvalidResourceId.NotFound", "The specified %s %q does not exist in %s.", typ, id, r.id)
		}
	}
	for _, id := range ids {
		r.setTagsLocked(typ, id, func(m map[string]string) { maps.Copy(m, tags) })
	}
	return emptyResponse{RequestId: q.reqID}, nil
}

func (s *Service) untagResources(q *request) (any, *apiError) {
	typ, aerr := q.resourceType()
	if aerr != nil {
		return nil, aerr
	}
	ids, aerr := q.resourceIDs(50)
	if aerr != nil {
		return nil, aerr
	}
	if len(ids) == 0 {
		return nil, missing("ResourceId.N")
	}
	kidx, aerr := q.indexed("TagKey", 20)
	if aerr != nil {
		return nil, aerr
	}
	all, aerr := q.boolParam("All")
	if aerr != nil {
		return nil, aerr
	}
	r := s.regions[q.region]
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if r.tagsOfLocked(typ, id) == nil {
			return nil, errf(404, "InvalidResourceId.NotFound", "The specified %s %q does not exist in %s.", typ, id, r.id)
		}
	}
	for _, id := range ids {
		r.setTagsLocked(typ, id, func(m map[string]string) {
			if len(kidx) == 0 {
				if all { // All applies only when no TagKey.N is given
					clear(m)
				}
				return
			}
			for _, f := range kidx {
				delete(m, f[""])
			}
		})
	}
	return emptyResponse{RequestId: q.reqID}, nil
}

type listTagResourcesResponse struct {
	RequestId    string `json:"RequestId"`
	NextToken    string `json:"NextToken"`
	TagResources struct {
		TagResource []tagResourceJSON `json:"TagResource"`
	} `json:"TagResources"`
}

type tagResourceJSON struct {
	ResourceId   string `json:"ResourceId"`
	ResourceType string `json:"ResourceType"`
	TagKey       string `json:"TagKey"`
	TagValue     string `json:"TagValue"`
}

// listTagPageSize is the number of rows (resource × tag) per ListTagResources page.
const listTagPageSize = 50

func (s *Service) listTagResources(q *request) (any, *apiError) {
	typ, aerr := q.resourceType()
	if aerr != nil {
		return nil, aerr
	}
	ids, aerr := q.resourceIDs(50)
	if aerr != nil {
		return nil, aerr
	}
	tagF, aerr := q.tags()
	if aerr != nil {
		return nil, aerr
	}
	fidx, aerr := q.indexed("TagFilter", 10)
	if aerr != nil {
		return nil, aerr
	}
	type tagFilter struct {
		key    string
		values []string
	}
	var filters []tagFilter
	for _, n := range sortedKeys(fidx) {
		f := tagFilter{key: fidx[n]["TagKey"]}
		if f.key == "" {
			return nil, missing(fmt.Sprintf("TagFilter.%d.TagKey", n))
		}
		for k, v := range fidx[n] {
			if strings.HasPrefix(k, "TagValues.") {
				f.values = append(f.values, v)
			}
		}
		filters = append(filters, f)
	}
	if len(ids) == 0 && len(tagF) == 0 && len(filters) == 0 {
		return nil, errf(400, "MissingParameter", "One of ResourceId.N, Tag.N or TagFilter.N is required.")
	}
	off, aerr := decodeToken(q.get("NextToken"))
	if aerr != nil {
		return nil, aerr
	}
	r := s.regions[q.region]
	r.mu.Lock()
	defer r.mu.Unlock()
	var rows []tagResourceJSON
	for _, id := range r.idsOfLocked(typ) {
		m := r.tagsOfLocked(typ, id)
		if len(ids) > 0 && !slices.Contains(ids, id) || !matchTags(m, tagF) {
			continue
		}
		ok := true
		for _, f := range filters {
			v, has := m[f.key]
			if !has || (len(f.values) > 0 && !slices.Contains(f.values, v)) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			rows = append(rows, tagResourceJSON{ResourceId: id, ResourceType: typ, TagKey: k, TagValue: m[k]})
		}
	}
	pg := page{tokenMode: true, size: listTagPageSize, offset: off}
	lo, hi := pg.window(len(rows))
	resp := listTagResourcesResponse{RequestId: q.reqID, NextToken: pg.nextToken()}
	resp.TagResources.TagResource = append([]tagResourceJSON{}, rows[lo:hi]...)
	return resp, nil
}
