package restore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/restore"
)

// putDB enters a verified offsite backup of a DB instance in cn-beijing's catalog.
func (w *world) putDB(t *testing.T, id, backup string, dataTime time.Time) {
	t.Helper()
	cred := w.srv.Credential()
	s, err := ossx.New(w.srv.URL(), cred.AccessKeyID, cred.AccessKeySecret, "")
	if err != nil {
		t.Fatal(err)
	}
	e := catalog.DatabaseEntry{InstanceID: id, Region: "cn-beijing", SourceRegion: "cn-hangzhou", Engine: "MySQL",
		BackupID: backup, Method: "Physical", Bucket: "prod-rds-offsite", Key: "rds/" + id + "/" + backup + ".tar.gz",
		Size: 1, CRC64: "1", DataTime: dataTime, CopiedAt: dataTime.Add(time.Hour), RPOSeconds: 3600}
	if _, err := catalog.NewWriter(s, w.pol.CatalogBucket("cn-beijing"), nil).PutDatabase(context.Background(), w.pol.Name, e); err != nil {
		t.Fatal(err)
	}
}

func dbBreaches(log string) (breach, ok int) {
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `"kind":"database"`) || !strings.Contains(line, `"action":"rpo"`) {
			continue
		}
		switch {
		case strings.Contains(line, `"result":"breach"`):
			breach++
		case strings.Contains(line, `"result":"ok"`):
			ok++
		}
	}
	return breach, ok
}

// TestRPOMonitorDatabases: the monitor reports each DB instance's newest offsite backup
// against rpoTarget (26h): one with 30h old data breaches and counts in the worst record,
// one with 2h old data does not; the breach check fails when the old one's data is fresh.
func TestRPOMonitorDatabases(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	w.pol.RDS = &policy.RDS{Destination: policy.RDSDestination{Region: "cn-beijing", Bucket: "prod-rds-offsite"}}
	ctx := context.Background()
	now := w.clock.Now()
	w.putDB(t, "rm-old1", "b-1", now.Add(-30*time.Hour))
	w.putDB(t, "rm-new1", "b-2", now.Add(-2*time.Hour))
	st, err := w.deps.MonitorRPO(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]restore.PairStatus{}
	for _, p := range st.Pairs {
		got[p.InstanceID] = p
	}
	old, fresh := got["rm-old1"], got["rm-new1"]
	if old.Kind != restore.KindDatabase || old.State != restore.StateStale || old.BackupID != "b-1" || old.Age() != 30*time.Hour ||
		!strings.Contains(strings.Join(old.Problems, ";"), "30h00m old, over the 26h00m target") {
		t.Fatalf("old db %+v", old)
	}
	if fresh.State != restore.StateOK || fresh.Age() != 2*time.Hour || len(fresh.Problems) != 0 {
		t.Fatalf("fresh db %+v", fresh)
	}
	// i-hz-locked-1 has no copy (1), rm-old1 is stale (1); the worst pair is the missing copy.
	if st.Missed != 2 || len(st.Pairs) != 5 {
		t.Fatalf("missed %d of %d", st.Missed, len(st.Pairs))
	}
	// The pair within target is a debug record (this log is at info): only the breach shows.
	if b, o := dbBreaches(w.log.String()); b != 1 || o != 0 {
		t.Fatalf("db records: %d breach, %d ok\n%s", b, o, w.log.String())
	}
	if !strings.Contains(w.log.String(), `"action":"rpo-worst","policy":"prod-dr","pairs":5,"breaches":2`) {
		t.Fatalf("worst record does not count the DB breach:\n%s", w.log.String())
	}
	var out strings.Builder
	restore.PrintStatus(&out, st, time.UTC)
	if !strings.Contains(out.String(), "rm-old1 in cn-beijing: stale") || !strings.Contains(out.String(), "DB INSTANCE") {
		t.Fatalf("table:\n%s", out.String())
	}

	// The breach check can fail: a fresh backup of rm-old1 (newer data) clears it.
	w.putDB(t, "rm-old1", "b-3", now.Add(-time.Hour))
	mark := len(w.log.String())
	st, err = w.deps.MonitorRPO(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := dbBreaches(w.log.String()[mark:]); b != 0 || st.Missed != 1 {
		t.Fatalf("fresh data still breaches: %d breach records, missed %d", b, st.Missed)
	}
}
