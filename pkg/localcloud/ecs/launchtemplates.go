package ecs

// Launch templates: CreateLaunchTemplate, CreateLaunchTemplateVersion,
// DescribeLaunchTemplates, DescribeLaunchTemplateVersions and DeleteLaunchTemplate, with
// the parameters and response fields of alibaba-cloud-sdk-go's services/ecs structs.
//
// Modelled choices (the API pages document the parameters, not every error):
//   - A version's ImageId is stored as given, not checked against the region's images,
//     and DeleteImage does NOT refuse an image a template version names: the DeleteImage
//     page lists no such error code (only ImageUsingByInstance and the copy/share/create
//     states), so the template is left pointing at a missing image and the next launch
//     fails. That is why the product, not ECS, must keep such images.
//   - Names are unique per region (InvalidLaunchTemplateName.Duplicated 400, code
//     unverified); an unknown id or name answers InvalidLaunchTemplate.NotFound 404
//     (unverified). PageSize is 1-50 (default 10) for both Describe calls, as documented.
//   - Versions are numbered from 1; the first one is the default. DescribeLaunchTemplateVersions
//     returns LaunchTemplateData unless DetailFlag=false.

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
)

// LaunchTemplate is the inspection view of one launch template.
type LaunchTemplate struct {
	ID, Name, RegionID string
	DefaultVersion     int64
	Versions           []LaunchTemplateVersion
	CreationTime       time.Time
	Tags               map[string]string
}

// LaunchTemplateVersion is one immutable version of a template.
type LaunchTemplateVersion struct {
	Number                int64
	ImageID, InstanceType string
	VersionDescription    string
	CreationTime          time.Time
}

type launchTemplate struct{ LaunchTemplate }

const maxLaunchTemplateVersions = 30 // documented per-template version limit

func (r *region) launchTemplates() map[string]*launchTemplate {
	if r.templates == nil {
		r.templates = map[string]*launchTemplate{}
	}
	return r.templates
}

// findTemplate resolves LaunchTemplateId, else LaunchTemplateName. Callers hold r.mu.
func (r *region) findTemplate(q *request) (*launchTemplate, *apiError) {
	id, name := q.get("LaunchTemplateId"), q.get("LaunchTemplateName")
	if id == "" && name == "" {
		return nil, missing("LaunchTemplateId")
	}
	for _, lt := range r.launchTemplates() {
		if id != "" && lt.ID == id || id == "" && lt.Name == name {
			return lt, nil
		}
	}
	return nil, errf(404, "InvalidLaunchTemplate.NotFound", "The specified launch template %q does not exist in %s.", cmpOr(id, name), r.id)
}

func (q *request) templateVersion(n int64, now time.Time) LaunchTemplateVersion {
	return LaunchTemplateVersion{Number: n, ImageID: q.get("ImageId"), InstanceType: q.get("InstanceType"),
		VersionDescription: q.get("VersionDescription"), CreationTime: now}
}

type createLaunchTemplateResponse struct {
	RequestId                   string `json:"RequestId"`
	LaunchTemplateId            string `json:"LaunchTemplateId"`
	LaunchTemplateVersionNumber int64  `json:"LaunchTemplateVersionNumber"`
}

func (s *Service) createLaunchTemplate(q *request) (any, *apiError) {
	name := q.get("LaunchTemplateName")
	if name == "" {
		return nil, missing("LaunchTemplateName")
	}
	if aerr := checkImageName("LaunchTemplateName", name); aerr != nil {
		aerr.Code = "InvalidLaunchTemplateName.Malformed"
		return nil, aerr
	}
	tp, aerr := q.tags()
	if aerr != nil {
		return nil, aerr
	}
	tags, aerr := validateTagsToSet(tp)
	if aerr != nil {
		return nil, aerr
	}
	r := s.regions[q.region]
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, lt := range r.launchTemplates() {
		if lt.Name == name {
			return nil, errf(400, "InvalidLaunchTemplateName.Duplicated", "The launch template name %q is already used in %s.", name, r.id)
		}
	}
	now := s.env.Clock.Now()
	lt := &launchTemplate{LaunchTemplate{ID: "lt-" + core.RandomHex(10), Name: name, RegionID: r.id, DefaultVersion: 1,
		CreationTime: now, Tags: tags, Versions: []LaunchTemplateVersion{q.templateVersion(1, now)}}}
	r.launchTemplates()[lt.ID] = lt
	return createLaunchTemplateResponse{RequestId: q.reqID, LaunchTemplateId: lt.ID, LaunchTemplateVersionNumber: 1}, nil
}

func (s *Service) createLaunchTemplateVersion(q *request) (any, *apiError) {
	r := s.regions[q.region]
	r.mu.Lock()
	defer r.mu.Unlock()
	lt, aerr := r.findTemplate(q)
	if aerr != nil {
		return nil, aerr
	}
	if len(lt.Versions) >= maxLaunchTemplateVersions {
		return nil, errf(403, "QuotaExceed.LaunchTemplateVersion", "The launch template %q already has %d versions.", lt.ID, maxLaunchTemplateVersions)
	}
	n := lt.Versions[len(lt.Versions)-1].Number + 1
	lt.Versions = append(lt.Versions, q.templateVersion(n, s.env.Clock.Now()))
	return createLaunchTemplateResponse{RequestId: q.reqID, LaunchTemplateId: lt.ID, LaunchTemplateVersionNumber: n}, nil
}

// templatePage reads PageNumber/PageSize with the launch template limits (size 1-50).
func (q *request) templatePage() (page, *apiError) {
	size, aerr := q.intParam("PageSize", 10, 1, 50)
	if aerr != nil {
		return page{}, aerr
	}
	num, aerr := q.intParam("PageNumber", 1, 1, 1<<30)
	if aerr != nil {
		return page{}, aerr
	}
	return page{number: num, size: size, offset: (num - 1) * size}, nil
}

type launchTemplateSetJSON struct {
	LaunchTemplateId     string   `json:"LaunchTemplateId"`
	LaunchTemplateName   string   `json:"LaunchTemplateName"`
	DefaultVersionNumber int64    `json:"DefaultVersionNumber"`
	LatestVersionNumber  int64    `json:"LatestVersionNumber"`
	CreateTime           string   `json:"CreateTime"`
	ModifiedTime         string   `json:"ModifiedTime"`
	CreatedBy            string   `json:"CreatedBy"`
	Tags                 tagsJSON `json:"Tags"`
}

type describeLaunchTemplatesResponse struct {
	RequestId          string `json:"RequestId"`
	TotalCount         int    `json:"TotalCount"`
	PageNumber         int    `json:"PageNumber"`
	PageSize           int    `json:"PageSize"`
	LaunchTemplateSets struct {
		LaunchTemplateSet []launchTemplateSetJSON `json:"LaunchTemplateSet"`
	} `json:"LaunchTemplateSets"`
}

func (s *Service) describeLaunchTemplates(q *request) (any, *apiError) {
	pg, aerr := q.templatePage()
	if aerr != nil {
		return nil, aerr
	}
	ids, names := repeated(q, "LaunchTemplateId"), repeated(q, "LaunchTemplateName")
	r := s.regions[q.region]
	r.mu.Lock()
	defer r.mu.Unlock()
	var match []*launchTemplate
	for _, lt := range r.launchTemplates() {
		if len(ids) > 0 && !slices.Contains(ids, lt.ID) || len(names) > 0 && !slices.Contains(names, lt.Name) {
			continue
		}
		match = append(match, lt)
	}
	slices.SortFunc(match, func(a, b *launchTemplate) int { return strings.Compare(a.ID, b.ID) })
	lo, hi := pg.window(len(match))
	resp := describeLaunchTemplatesResponse{RequestId: q.reqID, TotalCount: len(match), PageNumber: pg.number, PageSize: pg.size}
	resp.LaunchTemplateSets.LaunchTemplateSet = []launchTemplateSetJSON{}
	for _, lt := range match[lo:hi] {
		latest := lt.Versions[len(lt.Versions)-1]
		resp.LaunchTemplateSets.LaunchTemplateSet = append(resp.LaunchTemplateSets.LaunchTemplateSet, launchTemplateSetJSON{
			LaunchTemplateId: lt.ID, LaunchTemplateName: lt.Name, DefaultVersionNumber: lt.DefaultVersion,
			LatestVersionNumber: latest.Number, CreateTime: apiTime(lt.CreationTime), ModifiedTime: apiTime(latest.CreationTime),
			CreatedBy: q.account, Tags: tagList(lt.Tags)})
	}
	return resp, nil
}

// repeated reads a RepeatedList parameter (Name.1, Name.2, …) in N order.
func repeated(q *request, name string) []string {
	var ns []int
	for k := range q.params {
		if rest, ok := strings.CutPrefix(k, name+"."); ok {
			if n, err := strconv.Atoi(rest); err == nil && n > 0 {
				ns = append(ns, n)
			}
		}
	}
	slices.Sort(ns)
	out := make([]string, 0, len(ns))
	for _, n := range ns {
		out = append(out, q.get(name+"."+strconv.Itoa(n)))
	}
	return out
}

type launchTemplateDataJSON struct {
	ImageId      string `json:"ImageId,omitempty"`
	InstanceType string `json:"InstanceType,omitempty"`
}

type launchTemplateVersionSetJSON struct {
	LaunchTemplateId   string                  `json:"LaunchTemplateId"`
	LaunchTemplateName string                  `json:"LaunchTemplateName"`
	VersionNumber      int64                   `json:"VersionNumber"`
	DefaultVersion     bool                    `json:"DefaultVersion"`
	VersionDescription string                  `json:"VersionDescription"`
	CreateTime         string                  `json:"CreateTime"`
	ModifiedTime       string                  `json:"ModifiedTime"`
	CreatedBy          string                  `json:"CreatedBy"`
	LaunchTemplateData *launchTemplateDataJSON `json:"LaunchTemplateData,omitempty"`
}

type describeLaunchTemplateVersionsResponse struct {
	RequestId                 string `json:"RequestId"`
	TotalCount                int    `json:"TotalCount"`
	PageNumber                int    `json:"PageNumber"`
	PageSize                  int    `json:"PageSize"`
	LaunchTemplateVersionSets struct {
		LaunchTemplateVersionSet []launchTemplateVersionSetJSON `json:"LaunchTemplateVersionSet"`
	} `json:"LaunchTemplateVersionSets"`
}

func (s *Service) describeLaunchTemplateVersions(q *request) (any, *apiError) {
	pg, aerr := q.templatePage()
	if aerr != nil {
		return nil, aerr
	}
	detail := true
	if q.get("DetailFlag") != "" {
		if detail, aerr = q.boolParam("DetailFlag"); aerr != nil {
			return nil, aerr
		}
	}
	onlyDefault, aerr := q.boolParam("DefaultVersion")
	if aerr != nil {
		return nil, aerr
	}
	minV, aerr := q.intParam("MinVersion", 0, 0, 1<<30)
	if aerr != nil {
		return nil, aerr
	}
	maxV, aerr := q.intParam("MaxVersion", 1<<30, 0, 1<<30)
	if aerr != nil {
		return nil, aerr
	}
	wantVersions := repeated(q, "LaunchTemplateVersion")
	r := s.regions[q.region]
	r.mu.Lock()
	defer r.mu.Unlock()
	lt, aerr := r.findTemplate(q)
	if aerr != nil {
		return nil, aerr
	}
	var match []LaunchTemplateVersion
	for _, v := range lt.Versions {
		if onlyDefault && v.Number != lt.DefaultVersion || v.Number < int64(minV) || v.Number > int64(maxV) ||
			len(wantVersions) > 0 && !slices.Contains(wantVersions, strconv.FormatInt(v.Number, 10)) {
			continue
		}
		match = append(match, v)
	}
	lo, hi := pg.window(len(match))
	resp := describeLaunchTemplateVersionsResponse{RequestId: q.reqID, TotalCount: len(match), PageNumber: pg.number, PageSize: pg.size}
	resp.LaunchTemplateVersionSets.LaunchTemplateVersionSet = []launchTemplateVersionSetJSON{}
	for _, v := range match[lo:hi] {
		vj := launchTemplateVersionSetJSON{LaunchTemplateId: lt.ID, LaunchTemplateName: lt.Name, VersionNumber: v.Number,
			DefaultVersion: v.Number == lt.DefaultVersion, VersionDescription: v.VersionDescription,
			CreateTime: apiTime(v.CreationTime), ModifiedTime: apiTime(v.CreationTime), CreatedBy: q.account}
		if detail {
			vj.LaunchTemplateData = &launchTemplateDataJSON{ImageId: v.ImageID, InstanceType: v.InstanceType}
		}
		resp.LaunchTemplateVersionSets.LaunchTemplateVersionSet = append(resp.LaunchTemplateVersionSets.LaunchTemplateVersionSet, vj)
	}
	return resp, nil
}

type deleteLaunchTemplateResponse struct {
	RequestId                    string `json:"RequestId"`
	LaunchTemplateId             string `json:"LaunchTemplateId"`
	LaunchTemplateVersionNumbers struct {
		VersionNumbers []int64 `json:"versionNumbers"`
	} `json:"LaunchTemplateVersionNumbers"`
}

func (s *Service) deleteLaunchTemplate(q *request) (any, *apiError) {
	r := s.regions[q.region]
	r.mu.Lock()
	defer r.mu.Unlock()
	lt, aerr := r.findTemplate(q)
	if aerr != nil {
		return nil, aerr
	}
	delete(r.launchTemplates(), lt.ID)
	resp := deleteLaunchTemplateResponse{RequestId: q.reqID, LaunchTemplateId: lt.ID}
	resp.LaunchTemplateVersionNumbers.VersionNumbers = []int64{}
	for _, v := range lt.Versions {
		resp.LaunchTemplateVersionNumbers.VersionNumbers = append(resp.LaunchTemplateVersionNumbers.VersionNumbers, v.Number)
	}
	return resp, nil
}

// LaunchTemplates returns every launch template of region, sorted by id.
func (s *Service) LaunchTemplates(regionID string) []LaunchTemplate {
	r := s.regions[regionID]
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]LaunchTemplate, 0, len(r.templates))
	for _, lt := range r.templates {
		c := lt.LaunchTemplate
		c.Tags = maps.Clone(lt.Tags)
		c.Versions = slices.Clone(lt.Versions)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b LaunchTemplate) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// HasImage reports whether region has a custom or seeded image id in any status; other
// services of the local cloud (ESS) use it to check the images they are given.
func (s *Service) HasImage(regionID, imageID string) bool {
	r := s.regions[regionID]
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.images[imageID] != nil
}

// HasRegion reports whether regionID is one of the seeded regions.
func (s *Service) HasRegion(regionID string) bool {
	return s.regions[regionID] != nil
}
