package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// Cleanup writes one keep summary per (region, instance group): the group is the policy
// source of the instance (sources[i] by the image's source region), with counts by
// reason class; images that name no source region get a group of their own.
func TestKeepSummaryPerRegionAndInstanceGroup(t *testing.T) {
	t.Parallel()
	const src2 = "cn-shenzhen"
	e := newEnv(t, func(p *policy.Policy) {
		p.Sources = append(p.Sources, policy.Source{Region: src2, Selectors: []map[string]string{{"backup": "daily"}}})
		p.Retention.Source = policy.RetentionRule{KeepLast: 3}
		p.Retention.Destination = policy.RetentionRule{KeepLast: 3}
	})
	fleet := map[string]int{src: 20, src2: 10}
	for region, n := range fleet {
		for i := range n {
			inst := fmt.Sprintf("i-%s-%03d", region, i)
			for d := range 2 {
				slot := fmt.Sprintf("2026112%d", d)
				sid := fmt.Sprintf("m-%s-%d", inst, d)
				created := t0.Add(-time.Duration(d+1) * 24 * time.Hour)
				e.fake.addImage(region, ecsx.Image{ID: sid, Name: sid, Status: "Available", Created: created,
					Tags: e.pol.ManagedTags(map[string]string{policy.TagRole: policy.RoleSource, policy.TagSourceInstance: inst,
						policy.TagSlot: slot, policy.TagSourceRegion: region})})
				if d == 0 {
					e.fake.addImage(dstPlain, ecsx.Image{ID: "c" + sid, Name: "c" + sid, Status: "Available", Created: created.Add(time.Hour),
						IsCopied: true, Tags: e.pol.ManagedTags(map[string]string{policy.TagRole: policy.RoleCopy, policy.TagSourceInstance: inst,
							policy.TagSlot: slot, policy.TagSourceRegion: region, policy.TagSourceImage: sid,
							policy.TagDataTime: created.Format(time.RFC3339)})})
				}
			}
		}
	}
	// A copy made before images carried their source region: its group is unknown.
	e.fake.addImage(dstPlain, ecsx.Image{ID: "m-old-copy", Name: "old", Status: "Available", Created: t0.Add(-48 * time.Hour), IsCopied: true,
		Tags: e.pol.ManagedTags(map[string]string{policy.TagRole: policy.RoleCopy, policy.TagSourceInstance: "i-old",
			policy.TagSlot: "20261121", policy.TagSourceImage: "m-old"})})

	if _, err := e.deps().Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
	type want struct {
		group             string
		count, instances  int
		newest, keepLast3 int
	}
	wants := map[[2]string]want{
		{src, src}:       {"sources[0]", 40, 20, 20, 40},
		{src2, src2}:     {"sources[1]", 20, 10, 10, 20},
		{dstPlain, src}:  {"sources[0]", 20, 20, 20, 20},
		{dstPlain, src2}: {"sources[1]", 10, 10, 10, 10},
		{dstPlain, ""}:   {groupUnknown, 1, 1, 1, 1},
	}
	recs := e.records(map[string]string{"msg": "keep summary"})
	if len(recs) != len(wants) {
		t.Fatalf("%d keep summary records, want %d: %v", len(recs), len(wants), recs)
	}
	for _, rec := range recs {
		region, _ := rec["region"].(string)
		sr, _ := rec["source_region"].(string)
		w, ok := wants[[2]string{region, sr}]
		if !ok {
			t.Errorf("unexpected keep summary %v", rec)
			continue
		}
		reasons, _ := rec["reasons"].(map[string]any)
		if rec["group"] != w.group || rec["count"] != float64(w.count) || rec["instances"] != float64(w.instances) ||
			reasons["newest Available in region"] != float64(w.newest) || reasons["keepLast 3"] != float64(w.keepLast3) || len(reasons) != 2 {
			t.Errorf("keep summary %s/%s = %v, want group %q, %d images of %d instances, reasons newest %d keepLast3 %d",
				region, sr, rec, w.group, w.count, w.instances, w.newest, w.keepLast3)
		}
		if rec["level"] != "INFO" || rec["action"] != "keep" || !strings.Contains(rec["reason"].(string), w.group) {
			t.Errorf("keep summary record %v: want INFO, action keep, the group named in the reason", rec)
		}
	}
}

func TestReasonClassDropsWhatVariesPerImage(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"keepLast 7 (#2)":            "keepLast 7",
		"daily 7 (2026-11-20)":       "daily 7",
		"in use by i-bp1abc":         "in use",
		"held (ecs-dr:hold=true)":    "held",
		"newest Available in region": "newest Available in region",
		"refused: in use by i-x":     "refused: in use",
		"refused: still Creating":    "refused: still Creating",
		"refused: the users of images in cn-hangzhou could not be listed: boom": "refused: the users of images in cn-hangzhou could not be listed",
		"": "unspecified",
	} {
		if got := reasonClass(in); got != want {
			t.Errorf("reasonClass(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKeepSummaryIsBounded(t *testing.T) {
	t.Parallel()
	// Two sources entries on one region: the group names both.
	pol := &policy.Policy{Sources: []policy.Source{{Region: "a"}, {Region: "b"}, {Region: "a"}}}
	if g := groupName(pol, "a"); g != "sources[0,2]" {
		t.Errorf("groupName = %q", g)
	}
	if g := groupName(pol, "z"); !strings.Contains(g, "not in the policy") {
		t.Errorf("groupName of a region not in the policy = %q", g)
	}
	// More groups than maxListed: maxListed records, the last one sums the rest.
	var c collector
	for i := range maxListed + 50 {
		for k := range 10 + i%3 {
			c.addKept(Item{Region: fmt.Sprintf("r%03d", i), Instance: fmt.Sprintf("i-%d", k), Reason: fmt.Sprintf("why%d (#%d)", k, i)}, "a")
		}
	}
	var buf bytes.Buffer
	r := &run{pol: pol, log: slog.New(slog.NewJSONHandler(&buf, nil))}
	r.summarizeKept(context.Background(), &c)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != maxListed {
		t.Fatalf("%d records, want %d", len(lines), maxListed)
	}
	total := 0
	for i, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		total += int(rec["count"].(float64))
		if n := len(rec["reasons"].(map[string]any)); n > maxReasonClasses {
			t.Errorf("record %d has %d reason classes, want at most %d", i, n, maxReasonClasses)
		}
		if i == maxListed-1 && rec["group"] != groupOther {
			t.Errorf("last record group %v, want %q", rec["group"], groupOther)
		}
	}
	want := 0
	for i := range maxListed + 50 {
		want += 10 + i%3
	}
	if total != want {
		t.Errorf("records count %d images, want %d", total, want)
	}
}
