package ecs

import (
	"fmt"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
)

// Launch templates through the official SDK: create, versions, paging beyond one page of
// templates and of versions, lookups by id and name, errors, delete; and DeleteImage does
// not protect an image a template names (documented behaviour, see launchtemplates.go).
func TestLaunchTemplatesThroughSDK(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	img := f.availableImage(t, "i-hz-web-1", "lt-image")

	// 55 templates: more than one page of 50.
	var ids []string
	for i := range 55 {
		req := sdkecs.CreateCreateLaunchTemplateRequest()
		req.LaunchTemplateName = fmt.Sprintf("tpl-%02d", i)
		req.ImageId = SystemImageID
		req.InstanceType = "ecs.g7.large"
		resp, err := f.client.CreateLaunchTemplate(req)
		if err != nil {
			t.Fatalf("CreateLaunchTemplate %d: %v", i, err)
		}
		if resp.LaunchTemplateVersionNumber != 1 || resp.LaunchTemplateId == "" {
			t.Fatalf("CreateLaunchTemplate: %+v", resp)
		}
		ids = append(ids, resp.LaunchTemplateId)
	}
	dup := sdkecs.CreateCreateLaunchTemplateRequest()
	dup.LaunchTemplateName = "tpl-00"
	_, err := f.client.CreateLaunchTemplate(dup)
	wantErr(t, err, 400, "InvalidLaunchTemplateName.Duplicated")
	noName := sdkecs.CreateCreateLaunchTemplateRequest()
	_, err = f.client.CreateLaunchTemplate(noName)
	wantErr(t, err, 400, "MissingParameter")

	// 52 versions of one template, the last one naming the custom image.
	for v := 2; v <= 52; v++ {
		req := sdkecs.CreateCreateLaunchTemplateVersionRequest()
		req.LaunchTemplateName = "tpl-07" // by name
		req.ImageId = SystemImageID
		if v == 52 {
			req.ImageId = img
		}
		resp, err := f.client.CreateLaunchTemplateVersion(req)
		if v > maxLaunchTemplateVersions {
			wantErr(t, err, 403, "QuotaExceed.LaunchTemplateVersion")
			continue
		}
		if err != nil || resp.LaunchTemplateVersionNumber != int64(v) || resp.LaunchTemplateId != ids[7] {
			t.Fatalf("CreateLaunchTemplateVersion %d: %+v %v", v, resp, err)
		}
	}
	last := sdkecs.CreateCreateLaunchTemplateVersionRequest()
	last.LaunchTemplateId = ids[8]
	last.ImageId = img
	if _, err := f.client.CreateLaunchTemplateVersion(last); err != nil {
		t.Fatal(err)
	}
	unknown := sdkecs.CreateCreateLaunchTemplateVersionRequest()
	unknown.LaunchTemplateId = "lt-nope"
	_, err = f.client.CreateLaunchTemplateVersion(unknown)
	wantErr(t, err, 404, "InvalidLaunchTemplate.NotFound")

	// Page through every template.
	seen := map[string]bool{}
	for page := 1; ; page++ {
		req := sdkecs.CreateDescribeLaunchTemplatesRequest()
		req.PageNumber, req.PageSize = requests.NewInteger(page), requests.NewInteger(50)
		resp, err := f.client.DescribeLaunchTemplates(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.TotalCount != 55 {
			t.Fatalf("TotalCount %d, want 55", resp.TotalCount)
		}
		for _, lt := range resp.LaunchTemplateSets.LaunchTemplateSet {
			seen[lt.LaunchTemplateId] = true
			if lt.LaunchTemplateId == ids[7] && (lt.LatestVersionNumber != 30 || lt.DefaultVersionNumber != 1) {
				t.Errorf("tpl-07: latest %d default %d, want 30 and 1", lt.LatestVersionNumber, lt.DefaultVersionNumber)
			}
		}
		if len(resp.LaunchTemplateSets.LaunchTemplateSet) == 0 || len(seen) >= resp.TotalCount {
			break
		}
	}
	if len(seen) != 55 {
		t.Fatalf("paged %d templates, want 55", len(seen))
	}
	big := sdkecs.CreateDescribeLaunchTemplatesRequest()
	big.PageSize = requests.NewInteger(51)
	_, err = f.client.DescribeLaunchTemplates(big)
	wantErr(t, err, 400, "InvalidParameter")
	byName := sdkecs.CreateDescribeLaunchTemplatesRequest()
	byName.LaunchTemplateName = &[]string{"tpl-03", "tpl-04"}
	if resp, err := f.client.DescribeLaunchTemplates(byName); err != nil || resp.TotalCount != 2 {
		t.Fatalf("by name: %+v %v", resp, err)
	}

	// Versions of tpl-07, two pages of 20 + 10, with data; the custom image only in v30.
	var images []string
	for page := 1; page <= 2; page++ {
		req := sdkecs.CreateDescribeLaunchTemplateVersionsRequest()
		req.LaunchTemplateId = ids[7]
		req.DetailFlag = requests.NewBoolean(true)
		req.PageNumber, req.PageSize = requests.NewInteger(page), requests.NewInteger(20)
		resp, err := f.client.DescribeLaunchTemplateVersions(req)
		if err != nil || resp.TotalCount != 30 {
			t.Fatalf("versions page %d: %+v %v", page, resp, err)
		}
		for _, v := range resp.LaunchTemplateVersionSets.LaunchTemplateVersionSet {
			images = append(images, v.LaunchTemplateData.ImageId)
			if v.DefaultVersion != (v.VersionNumber == 1) {
				t.Errorf("version %d DefaultVersion=%v", v.VersionNumber, v.DefaultVersion)
			}
		}
	}
	if len(images) != 30 || images[29] != SystemImageID {
		t.Fatalf("versions: %d images, last %q", len(images), images[len(images)-1])
	}
	// The 52nd version was refused (quota), so img is named by tpl-08 v2 only.
	def := sdkecs.CreateDescribeLaunchTemplateVersionsRequest()
	def.LaunchTemplateName = "tpl-08"
	resp, err := f.client.DescribeLaunchTemplateVersions(def)
	if err != nil || resp.TotalCount != 2 || resp.LaunchTemplateVersionSets.LaunchTemplateVersionSet[1].LaunchTemplateData.ImageId != img {
		t.Fatalf("tpl-08 versions: %+v %v", resp, err)
	}
	noDetail := sdkecs.CreateDescribeLaunchTemplateVersionsRequest()
	noDetail.LaunchTemplateId = ids[8]
	noDetail.DetailFlag = requests.NewBoolean(false)
	if resp, err := f.client.DescribeLaunchTemplateVersions(noDetail); err != nil || resp.LaunchTemplateVersionSets.LaunchTemplateVersionSet[1].LaunchTemplateData.ImageId != "" {
		t.Fatalf("DetailFlag=false still returned data: %+v %v", resp, err)
	}

	// DeleteImage does not look at templates: the image goes, the template dangles.
	del := sdkecs.CreateDeleteImageRequest()
	del.ImageId = img
	if _, err := f.client.DeleteImage(del); err != nil {
		t.Fatalf("DeleteImage of a template's image: %v (ECS documents no refusal)", err)
	}
	if f.hasImage("cn-hangzhou", img) {
		t.Fatal("image still there")
	}

	dl := sdkecs.CreateDeleteLaunchTemplateRequest()
	dl.LaunchTemplateId = ids[8]
	dresp, err := f.client.DeleteLaunchTemplate(dl)
	if err != nil || dresp.LaunchTemplateId != ids[8] || len(dresp.LaunchTemplateVersionNumbers.VersionNumbers) != 2 {
		t.Fatalf("DeleteLaunchTemplate: %+v %v", dresp, err)
	}
	_, err = f.client.DeleteLaunchTemplate(dl)
	wantErr(t, err, 404, "InvalidLaunchTemplate.NotFound")
	if n := len(f.svc.LaunchTemplates("cn-hangzhou")); n != 54 {
		t.Fatalf("%d templates left, want 54", n)
	}
	if n := len(f.svc.LaunchTemplates("cn-shanghai")); n != 0 {
		t.Fatalf("templates leaked into cn-shanghai: %d", n)
	}
}
