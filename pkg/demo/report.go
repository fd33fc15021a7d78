package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/fc"
	lcsls "github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
	"github.com/ecsdr/ecs-image-dr/pkg/obs"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// report builds the final table and checks the invariants against the local cloud's
// actual state (not against what the functions say they did).
func (d *driver) report(ctx context.Context) *Report {
	rep := &Report{Invocations: d.srv.FC.Invocations(), Deleted: map[string]string{}}
	d.mu.Lock()
	for k, v := range d.deleted {
		rep.Deleted[k] = v
	}
	inUse := d.inUse
	d.mu.Unlock()

	pruned := d.prunedReasons(rep.Invocations)
	regions := append(d.pol.SourceRegions(), d.pol.DestinationRegions()...)
	images := map[string][]ecs.Image{}
	for _, r := range regions {
		images[r] = d.srv.ECS.Images(r)
	}
	protected := d.protectedInstances()

	// Unexpected deletions: an image not ours, or one in use.
	for id, region := range rep.Deleted {
		if id == manualImage {
			d.violate("unmanaged image %s in %s was deleted", id, region)
		}
		if id == inUse && inUse != "" {
			d.violate("image %s was deleted while an instance used it", id)
		}
	}
	if !hasImage(images["cn-hangzhou"], manualImage) {
		d.violate("unmanaged image %s is gone", manualImage)
	}
	if !d.o.NoTrouble && inUse == "" {
		d.violate("the in-use scenario did not run")
	}

	rep.Catalogs = d.readCatalogs(ctx)
	catalogs := map[string]map[string]string{} // region -> instance -> image id
	for _, rc := range rep.Catalogs {
		catalogs[rc.Region] = map[string]string{}
		for _, e := range rc.Entries {
			if e.Region == rc.Region {
				catalogs[rc.Region][e.InstanceID] = e.ImageID
			}
		}
	}
	lastSlot := d.pol.Slot(DayAt(d.o.Days, 3, 0))
	for _, inst := range protected {
		var newestSource ecs.Image
		for _, region := range regions {
			role := policy.RoleCopy
			if region == inst.region {
				role = policy.RoleSource
			} else if contains(d.pol.SourceRegions(), region) {
				continue // another source region: this instance has no images there
			}
			row := Row{Instance: inst.id, Region: region, Role: role, PrunedWhy: pruned[inst.id+"/"+region]}
			for _, n := range row.PrunedWhy {
				row.Pruned += n
			}
			var mine []ecs.Image
			slots := map[string]int{}
			for _, im := range images[region] {
				if im.Tags[policy.TagManagedBy] != policy.ManagedByValue || im.Tags[policy.TagPolicy] != d.pol.Name ||
					im.Tags[policy.TagSourceInstance] != inst.id || im.Tags[policy.TagRole] != role {
					continue
				}
				slots[im.Tags[policy.TagSlot]]++
				if im.Status == "Available" {
					mine = append(mine, im)
				}
			}
			for slot, n := range slots {
				if n > 1 {
					d.violate("%s in %s: %d images for slot %s (duplicates)", inst.id, region, n, slot)
				}
			}
			sort.Slice(mine, func(i, j int) bool { return mine[i].CreationTime.After(mine[j].CreationTime) })
			for _, im := range mine {
				row.Kept = append(row.Kept, im.ID)
			}
			if len(mine) == 0 {
				d.violate("%s has no restorable image in %s", inst.id, region)
			} else {
				row.Newest, row.NewestSlot, row.NewestCreated = mine[0].ID, mine[0].Tags[policy.TagSlot], mine[0].CreationTime
				if row.NewestSlot != lastSlot {
					d.violate("%s in %s: newest restorable image is from slot %s, want the last slot %s", inst.id, region, row.NewestSlot, lastSlot)
				}
			}
			if role == policy.RoleSource && len(mine) > 0 {
				newestSource = mine[0]
			}
			if role == policy.RoleCopy {
				if newestSource.ID != "" && len(mine) > 0 && mine[0].Tags[policy.TagSourceImage] != newestSource.ID {
					d.violate("%s: newest source image %s has no Available copy in %s", inst.id, newestSource.ID, region)
				}
				row.Catalog = catalogs[region][inst.id]
				if row.Catalog != row.Newest {
					d.violate("%s: DR catalog in %s names %q, newest restorable copy is %q", inst.id, region, row.Catalog, row.Newest)
				}
			}
			if limit := d.retentionBound(region, mine, inUse); len(mine) > limit {
				d.violate("%s in %s keeps %d images, retention allows at most %d", inst.id, region, len(mine), limit)
			}
			rep.Rows = append(rep.Rows, row)
		}
	}
	if inUse != "" && !hasImage(images["cn-hangzhou"], inUse) {
		d.violate("in-use image %s is gone", inUse)
	}

	// Orphaned snapshots: a snapshot made for an image must go with it. ECS clears a
	// snapshot's image id when the image is deleted (it becomes an ordinary snapshot the
	// owner pays for), so an orphan is a snapshot made during the run (every one of them
	// was made by CreateImage or CopyImage) that no live image uses.
	for _, r := range regions {
		live := map[string]bool{}
		for _, im := range images[r] {
			live[im.ID] = true
		}
		for _, sn := range d.srv.ECS.Snapshots(r) {
			if !d.seedSnapshots[sn.ID] && (sn.ImageID == "" || !live[sn.ImageID]) {
				d.violate("orphaned snapshot %s in %s (made for an image that is gone)", sn.ID, r)
			}
		}
	}
	d.checkSLS(rep)
	d.reportOffsite(ctx, rep)
	for _, inv := range rep.Invocations {
		if inv.Status != fc.StatusOK && inv.RetryCount >= 3 {
			d.violate("%s (%s) failed after %d retries: %s", inv.Function, inv.Source, inv.RetryCount, inv.ErrorMessage)
		}
	}
	d.mu.Lock()
	rep.Violations = append(rep.Violations, d.violations...)
	d.mu.Unlock()
	return rep
}

// retentionBound is the most managed Available images retention may leave for one
// instance in region: the rules' union, plus an image kept because it is in use.
func (d *driver) retentionBound(region string, mine []ecs.Image, inUse string) int {
	rule, _ := d.pol.RuleFor(region)
	n := rule.KeepLast + rule.Daily + rule.Weekly + rule.Monthly
	if rule.KeepDays > 0 {
		n += rule.KeepDays + 1
	}
	if n == 0 {
		n = 1
	}
	for _, im := range mine {
		if im.ID == inUse {
			n++
		}
	}
	return n
}

type instanceRef struct{ id, region string }

// protectedInstances lists the instances the policy protects and that can be imaged.
func (d *driver) protectedInstances() []instanceRef {
	var out []instanceRef
	for _, region := range d.pol.SourceRegions() {
		for _, in := range d.srv.ECS.Instances(region) {
			if ok, _ := d.pol.Selects(region, in.ID, in.Tags); !ok || in.LockReason != "" {
				continue
			}
			if in.Status != "Running" && in.Status != "Stopped" {
				continue
			}
			out = append(out, instanceRef{id: in.ID, region: region})
		}
	}
	return out
}

// prunedReasons counts, per instance/region, the images cleanup deleted and why.
func (d *driver) prunedReasons(invs []fc.Invocation) map[string]map[string]int {
	out := map[string]map[string]int{}
	for _, inv := range invs {
		if inv.Status != fc.StatusOK {
			continue
		}
		var r result
		if json.Unmarshal(inv.Response, &r) != nil || r.Cleanup == nil {
			continue
		}
		for _, it := range r.Cleanup.Deleted {
			k := it.Instance + "/" + it.Region
			if out[k] == nil {
				out[k] = map[string]int{}
			}
			out[k][it.Reason]++
		}
	}
	return out
}

// readCatalogs reads the DR catalog of every destination through the OSS SDK, as an
// operator would when the source region is down.
func (d *driver) readCatalogs(ctx context.Context) []RegionCatalog {
	cred := d.srv.Credential()
	store, err := ossx.New(d.srv.URL(), cred.AccessKeyID, cred.AccessKeySecret, "")
	if err != nil {
		d.violate("catalog: %v", err)
		return nil
	}
	var out []RegionCatalog
	for _, r := range d.pol.DestinationRegions() {
		rc := RegionCatalog{Region: r, Bucket: d.pol.CatalogBucket(r)}
		entries, err := catalog.Read(ctx, store, rc.Bucket, d.pol.Name)
		if err != nil {
			d.violate("catalog in %s: %v", r, err)
		}
		rc.Entries = entries
		out = append(out, rc)
	}
	return out
}

// SampleQuery is the SLS query the report runs through the SDK: every image cleanup
// deleted. Cleanup logs the deletion of an image's snapshots with the same action and
// result plus a snapshot key; "not snapshot: *" leaves those out.
const SampleQuery = "action: delete and result: ok and not snapshot: *"

// checkSLS reads the logstore back: every record (from the local SLS), the sample query
// (through the SDK's GetLogs, paging as a client must), and checks that every invocation
// that ran to completion left records under its request id.
func (d *driver) checkSLS(rep *Report) {
	recs := d.srv.SLS.Logs(slsProject, slsLogstore)
	var from, to time.Time
	byRequest := map[string]bool{}
	for _, r := range recs {
		rep.SLSRecords = append(rep.SLSRecords, r.Contents)
		byRequest[r.Contents[obs.KeyRequestID]] = true
		if from.IsZero() || r.Time.Before(from) {
			from = r.Time
		}
		if r.Time.After(to) {
			to = r.Time
		}
	}
	for _, inv := range rep.Invocations {
		if inv.Status == fc.StatusOK && !byRequest[inv.RequestID] {
			d.violate("%s (%s, request %s) left no record in SLS %s/%s", inv.Function, inv.Source, inv.RequestID, slsProject, slsLogstore)
		}
	}
	if d.failedImage {
		// A lost backup must reach the operator: the failed image's record is in SLS.
		n := 0
		for _, r := range recs {
			if r.Contents[obs.KeyAction] == "image-failed" && r.Contents[obs.KeyResult] == "failed" {
				n++
			}
		}
		if n == 0 {
			d.violate("an image ended CreateFailed but no action=image-failed result=failed record reached SLS")
		}
	}
	rep.SLSQuery = SampleQuery
	if len(recs) == 0 {
		return
	}
	// Functions log in wall time, not simulated time: query the span the records cover.
	client := lcsls.NewSDKClient(d.srv.Addr(), d.srv.Credential())
	defer client.Close()
	const page = 100
	for offset := int64(0); ; offset += page {
		resp, err := client.GetLogs(slsProject, slsLogstore, "", from.Unix(), to.Unix()+1, SampleQuery, page, offset, false)
		if err != nil {
			d.violate("sls: GetLogs %q: %v", SampleQuery, err)
			return
		}
		rep.SLSQueryHits += len(resp.Logs)
		if len(resp.Logs) < page {
			return
		}
	}
}

// Print writes the final table, the DR catalogs, the SLS figures and the invariant
// verdict, laid out for a 100-column terminal.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "\n=== final state per instance and region (times Asia/Shanghai) ===\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	// Image ids are shortened here; the catalog tables below have them in full.
	fmt.Fprintln(tw, "INSTANCE\tREGION\tROLE\tKEPT\tNEWEST\tCREATED\tCATALOG\tPRUNED")
	for _, row := range r.Rows {
		var why []string
		for k, n := range row.PrunedWhy {
			why = append(why, fmt.Sprintf("%d: %s", n, k))
		}
		sort.Strings(why)
		pruned := strings.Join(why, "; ")
		if pruned == "" {
			pruned = "0"
		}
		cat := "-"
		if row.Role == policy.RoleCopy {
			cat = "missing"
			if row.Catalog != "" && row.Catalog == row.Newest {
				cat = "ok"
			} else if row.Catalog != "" {
				cat = "stale"
			}
		}
		created := "-"
		if !row.NewestCreated.IsZero() {
			created = row.NewestCreated.In(shanghai).Format("01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", row.Instance, row.Region, row.Role, len(row.Kept),
			shortID(row.Newest), created, cat, pruned)
	}
	_ = tw.Flush()

	for _, rc := range r.Catalogs {
		fmt.Fprintf(w, "\n=== DR catalog as read in %s (oss://%s) ===\n", rc.Region, rc.Bucket)
		catalog.PrintTable(w, rc.Entries, r.End)
	}

	printDatabases(w, r)

	ok, failed := 0, 0
	for _, inv := range r.Invocations {
		if inv.Status == fc.StatusOK {
			ok++
		} else {
			failed++
		}
	}
	fmt.Fprint(w, r.Finale) // the operator's drill, restore and drctl status (restore.go)
	fmt.Fprintf(w, "\n=== summary ===\n")
	fmt.Fprintf(w, "invocations: %d ok, %d not ok (retried by FC); images deleted: %d; wall time %s\n",
		ok, failed, len(r.Deleted), r.Wall.Round(time.Millisecond))
	fmt.Fprintf(w, "SLS %s/%s: %d records from the functions\n", slsProject, slsLogstore, len(r.SLSRecords))
	fmt.Fprintf(w, "  GetLogs %q → %d records\n", r.SLSQuery, r.SLSQueryHits)
	if len(r.Violations) == 0 {
		for _, l := range wrap("invariants: ", "OK (every protected instance has its newest image in every region and in "+
			"the DR catalog; nothing unmanaged or in use was deleted; no duplicate images; no orphaned snapshots; "+
			"retention bounds hold; every invocation logged to SLS"+databasesOK(r)+")", width) {
			fmt.Fprintln(w, l)
		}
		return
	}
	fmt.Fprintf(w, "invariants: %d VIOLATED\n", len(r.Violations))
	for _, v := range r.Violations {
		for _, l := range wrap("  - ", v, width) {
			fmt.Fprintln(w, l)
		}
	}
}

// shortID keeps an image id readable in a narrow column: m-b16f409c8f… .
func shortID(id string) string {
	if r := []rune(id); len(r) > 13 {
		return string(r[:12]) + "…"
	}
	return id
}

func hasImage(ims []ecs.Image, id string) bool {
	for _, im := range ims {
		if im.ID == id {
			return true
		}
	}
	return false
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
