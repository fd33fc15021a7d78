package chaos

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/ecs"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// shortSlice is the part of `make chaos` that runs in `make test`.
const shortSlice = 6

// knownOpen are fault kinds left out of the make-test slice while the product does not
// survive them yet (make chaos keeps them and reports the violations). None today.
var knownOpen []string

func without(sc *Scenario, kinds ...string) *Scenario {
	var keep []Fault
	for _, f := range sc.Faults {
		drop := false
		for _, k := range kinds {
			drop = drop || f.Kind == k
		}
		if !drop {
			keep = append(keep, f)
		}
	}
	sc.Faults = keep
	return sc
}

func TestShortSeededRun(t *testing.T) {
	t.Parallel()
	var sum Summary
	for seed := int64(1); seed <= shortSlice; seed++ {
		r := Run(context.Background(), without(Generate(seed, false), knownOpen...), Options{})
		sum.Add(r)
		if r.Err != nil {
			t.Errorf("seed %d could not run: %v", seed, r.Err)
		}
		for _, v := range r.Violations {
			t.Errorf("seed %d: %s (reproduce: %s)", seed, v, Repro(r))
		}
	}
	total := 0
	for _, n := range sum.Faults {
		total += n
	}
	if total < 2*shortSlice || sum.Invocations < 10*shortSlice {
		t.Errorf("the slice injected %d faults over %d invocations: it tests too little", total, sum.Invocations)
	}
	var out strings.Builder
	sum.Print(&out)
	t.Log(out.String())
}

func TestGenerateIsDeterministic(t *testing.T) {
	t.Parallel()
	a, b := Generate(42, false), Generate(42, false)
	if a.PolicyDoc != b.PolicyDoc || fmt.Sprint(a.Faults) != fmt.Sprint(b.Faults) || len(a.Instances) != len(b.Instances) {
		t.Fatal("the same seed drew two different scenarios")
	}
	for seed := int64(1); seed <= 200; seed++ {
		sc := Generate(seed, seed%2 == 0)
		if _, err := sc.Policy(); err != nil {
			t.Fatalf("seed %d drew an invalid policy: %v\n%s", seed, err, sc.PolicyDoc)
		}
	}
}

// baseline is a converged scenario without faults, its end state, and the runner's cloud
// kept for the audit test.
func baseline(t *testing.T) *State {
	t.Helper()
	sc := Generate(3, false)
	sc.Faults = nil
	res := &Result{Faults: map[string]int{}}
	st := play(context.Background(), sc, Options{}, res, nil)
	if st == nil {
		t.Fatal(res.Err)
	}
	if v := Check(st); len(v) != 0 {
		t.Fatalf("the baseline already violates: %v", v)
	}
	return st
}

func clone(st *State) *State {
	c := *st
	c.Images = append([]ecs.Image(nil), st.Images...)
	c.Snapshots = append([]ecs.Snapshot(nil), st.Snapshots...)
	c.Instances = append([]ecs.Instance(nil), st.Instances...)
	c.Invocations = append([]InvocationRecord(nil), st.Invocations...)
	c.Catalog = map[string][]catalog.Entry{}
	for k, v := range st.Catalog {
		c.Catalog[k] = append([]catalog.Entry(nil), v...)
	}
	return &c
}

// Each invariant check fails when its invariant is broken: sabotage the state, assert the
// checker names the invariant.
func TestEachCheckFailsWhenItsInvariantBreaks(t *testing.T) {
	t.Parallel()
	base := baseline(t)
	pol := base.Scenario.PolicyName
	find := func(st *State, role string) int {
		for i, im := range st.Images {
			if ours(im, pol) && im.Status == "Available" && im.Tags[policy.TagRole] == role {
				return i
			}
		}
		t.Fatalf("baseline has no Available %s image", role)
		return -1
	}
	dup := func(im ecs.Image) ecs.Image {
		im.ID += "dup"
		return im
	}
	tests := []struct {
		inv      string
		sabotage func(st *State)
	}{
		{InvOneImagePerSlot, func(st *State) { st.Images = append(st.Images, dup(st.Images[find(st, policy.RoleSource)])) }},
		{InvOneCopyPerDest, func(st *State) { st.Images = append(st.Images, dup(st.Images[find(st, policy.RoleCopy)])) }},
		{InvNewestCopied, func(st *State) {
			// every copy is gone: no newest source image is copied anywhere
			var keep []ecs.Image
			for _, im := range st.Images {
				if im.Tags[policy.TagRole] != policy.RoleCopy {
					keep = append(keep, im)
				}
			}
			st.Images = keep
		}},
		{InvNoBadDelete, func(st *State) {
			st.Deletions = append(st.Deletions, Violation{InvNoBadDelete, "deleted m-x: held"})
		}},
		{InvNoOrphanSnapshot, func(st *State) {
			i := find(st, policy.RoleSource)
			im := st.Images[i]
			st.Images = append(st.Images[:i:i], st.Images[i+1:]...)
			st.Snapshots = append(st.Snapshots, ecs.Snapshot{ID: "s-orphan", RegionID: im.RegionID, ImageID: im.ID})
		}},
		{InvRetention, func(st *State) {
			old := st.Images[find(st, policy.RoleSource)]
			old.ID, old.CreationTime = "m-ancient", old.CreationTime.AddDate(-1, 0, 0)
			old.Tags = map[string]string{}
			for k, v := range st.Images[find(st, policy.RoleSource)].Tags {
				old.Tags[k] = v
			}
			old.Tags[policy.TagSlot] = "20250101"
			st.Images = append(st.Images, old)
			// a rule that keeps only the newest: nothing but protections keeps the old one
			sc := *st.Scenario
			sc.SourceRule = Rule{KeepLast: 1}
			st.Scenario = &sc
			st.Seen = map[string]ecs.Image{}
			for k, v := range base.Seen {
				st.Seen[k] = v
			}
			st.Seen[old.ID] = old
		}},
		{InvRetention, func(st *State) {
			f := st.Images[find(st, policy.RoleCopy)]
			f.ID, f.Status = "m-failedleft", "CreateFailed"
			f.Tags = map[string]string{}
			for k, v := range st.Images[find(st, policy.RoleCopy)].Tags {
				f.Tags[k] = v
			}
			f.Tags[policy.TagSourceImage] = "m-other"
			st.Images = append(st.Images, f)
		}},
		{InvCatalog, func(st *State) {
			for d := range st.Catalog {
				for i := range st.Catalog[d] {
					st.Catalog[d][i].ImageID = "m-gone"
				}
			}
		}},
		{InvCatalog, func(st *State) {
			for d := range st.Catalog {
				st.Catalog[d] = nil
			}
		}},
		{InvNoPanic, func(st *State) { st.Invocations[0].Panicked = true }},
		{InvRecords, func(st *State) { st.Invocations[0].Started = false }},
		{InvRecords, func(st *State) { st.Invocations[0].Finished, st.Invocations[0].Killed = false, false }},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d-%s", i, tt.inv), func(t *testing.T) {
			st := clone(base)
			tt.sabotage(st)
			found := false
			for _, v := range Check(st) {
				found = found || v.Invariant == tt.inv
			}
			if !found {
				t.Errorf("sabotage of %s went unnoticed: %v", tt.inv, Check(st))
			}
		})
	}
}

// The audit judges a deletion when it reaches the cloud: the newest image, held by hand,
// deleted with the functions' (STS) credentials is a violation, found in the end state.
func TestAuditCatchesProtectedDeletions(t *testing.T) {
	t.Parallel()
	sc := Generate(3, false)
	sc.Faults = nil
	sc.SourceRule = Rule{KeepLast: 1}
	sc.PolicyDoc = sc.policyYAML(2)
	res := &Result{Faults: map[string]int{}}
	var got []Violation
	var sawDeletion bool
	st := play(context.Background(), sc, Options{}, res, func(r *runner) {
		region := sc.Sources[0]
		var src []ecs.Image
		for _, im := range r.srv.ECS.Images(region) {
			if ours(im, sc.PolicyName) && im.Status == "Available" {
				src = append(src, im)
			}
		}
		if len(src) < 1 {
			t.Fatalf("no source image in %s", region)
		}
		sts := r.srv.Env.Creds.IssueSTS(core.DefaultAccountID, time.Hour)
		api, err := ecs.NewSDKClient(r.addr, region, core.Credential{AccessKeyID: sts.AccessKeyID, AccessKeySecret: sts.AccessKeySecret, SecurityToken: sts.SecurityToken})
		if err != nil {
			t.Fatal(err)
		}
		owner, err := ecs.NewSDKClient(r.addr, region, r.srv.Credential())
		if err != nil {
			t.Fatal(err)
		}
		// The newest image of its instance, held by hand: two reasons to refuse.
		newest := src[len(src)-1]
		if err := tagImage(owner, newest, map[string]string{TagHold: policy.HoldValue}); err != nil {
			t.Fatal(err)
		}
		if _, err := api.DeleteImage(newDeleteImage(newest)); err != nil {
			t.Fatalf("delete %s: %v", newest.ID, err)
		}
		r.aud.mu.Lock()
		got = append(got, r.aud.violations...)
		sawDeletion = len(r.aud.deleted) > 0
		r.aud.mu.Unlock()
	})
	if st == nil {
		t.Fatal(res.Err)
	}
	if !sawDeletion {
		t.Error("the audit did not see the deletion")
	}
	if len(got) != 1 || got[0].Invariant != InvNoBadDelete || !strings.Contains(got[0].Detail, "held") {
		t.Errorf("audit verdicts %v, want one held-image violation", got)
	}
	if v := Check(st); len(v) == 0 {
		t.Error("the end state does not report the held deletion")
	}
}

// The audit's judgement, case by case, on a fixed view.
func TestAuditWhy(t *testing.T) {
	t.Parallel()
	sc := Generate(5, false)
	sc.SourceRule = Rule{KeepLast: 2}
	region := sc.Sources[0]
	t0 := sc.Start
	img := func(id string, age int, tags map[string]string) ecs.Image {
		all := map[string]string{policy.TagManagedBy: policy.ManagedByValue, policy.TagPolicy: sc.PolicyName,
			policy.TagRole: policy.RoleSource, policy.TagSourceInstance: "i-1"}
		for k, v := range tags {
			all[k] = v
		}
		return ecs.Image{ID: id, RegionID: region, Status: "Available", CreationTime: t0.AddDate(0, 0, -age), Tags: all}
	}
	view := cloudView{inUse: map[string]bool{region + "/m-used": true}, images: []ecs.Image{
		img("m-new", 0, nil), img("m-second", 1, nil), img("m-old", 5, nil), img("m-used", 6, nil),
		img("m-held", 7, map[string]string{TagHold: policy.HoldValue}), img("m-other", 8, map[string]string{policy.TagPolicy: "another"}),
	}}
	a := &audit{sc: sc, seen: map[string]ecs.Image{}, policyRegs: map[string]bool{region: true}, modelNow: func() time.Time { return t0 }}
	for _, tc := range []struct{ id, want string }{
		{"m-new", "newest"}, {"m-second", "keepLast"}, {"m-old", ""}, {"m-used", "in use"}, {"m-held", "held"}, {"m-other", "not managed"},
	} {
		var im ecs.Image
		for _, x := range view.images {
			if x.ID == tc.id {
				im = x
			}
		}
		got := a.why(im, view)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("why(%s) = %q, want %q", tc.id, got, tc.want)
		}
	}
}

// One scenario through the real binaries under the local FC runtime, with a real kill.
func TestBinaryScenario(t *testing.T) {
	t.Parallel()
	sfile := buildBinaries(t)
	sc := without(Generate(20, true), knownOpen...)
	sc.Faults = append(sc.Faults, Fault{At: sc.Start.Add(18 * time.Hour), Kind: KindKill, N: 3})
	r := &Result{Seed: sc.Seed, Binary: true, Faults: map[string]int{}}
	st := play(context.Background(), sc, Options{SFile: sfile}, r, nil)
	if st == nil {
		t.Fatal(r.Err)
	}
	for _, v := range Check(st) {
		t.Errorf("%s (reproduce: %s)", v, Repro(r))
	}
	killed := 0
	for _, inv := range st.Invocations {
		if inv.Killed {
			killed++
		}
	}
	if len(st.Invocations) < 10 || killed == 0 {
		t.Errorf("binary scenario: %d invocations, %d killed, faults %v", len(st.Invocations), killed, r.Faults)
	}
}

// buildBinaries builds the functions into a temp dist/ with s.yaml next to it, as the demo
// tests do.
func buildBinaries(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	cmd := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "./functions/...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the functions: %v\n%s", err, out)
	}
	fns, err := os.ReadDir(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range fns {
		if err := os.MkdirAll(filepath.Join(dir, "dist", fn.Name()), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(bin, fn.Name()), filepath.Join(dir, "dist", fn.Name(), "main")); err != nil {
			t.Fatal(err)
		}
	}
	s, err := os.ReadFile(filepath.Join(root, "s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "s.yaml"), s, 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "s.yaml")
}
