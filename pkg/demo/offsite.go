package demo

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/rds"
	"github.com/ecsdr/ecs-image-dr/pkg/offsite"
)

// The demo's databases: rm-bp1orders0demo (MySQL on local SSD, listed by id in the policy)
// makes a full backup every night at 01:00 and a binlog file every 6 hours; rm-bp1billing0demo
// (cloud disk, tag dr=on) makes snapshot backups, which rds-offsite cannot copy and reports.
const (
	dbOrders  = "rm-bp1orders0demo"
	dbBilling = "rm-bp1billing0demo"
	// dbBackupSize is the size of the nightly backup (plus the day number, so sizes differ).
	dbBackupSize = 48 << 20
)

// provisionRDS creates the DR bucket of the rds section and the DB instances.
func (d *driver) provisionRDS() error {
	r := d.pol.RDS
	if r == nil {
		return nil
	}
	if err := d.srv.OSS.CreateBucket(r.Destination.Bucket, r.Destination.Region); err != nil {
		return fmt.Errorf("rds bucket: %w", err)
	}
	for _, in := range []rds.Instance{
		{ID: dbOrders, Region: "cn-hangzhou", Engine: "MySQL", EngineVersion: "8.0", StorageType: "local_ssd", Description: "orders"},
		{ID: dbBilling, Region: "cn-hangzhou", Engine: "MySQL", EngineVersion: "8.0", StorageType: "cloud_essd", Description: "billing",
			Tags: map[string]string{"dr": "on"}},
	} {
		if err := d.srv.RDS.AddInstance(in); err != nil {
			return err
		}
	}
	return nil
}

// rdsSteps are RDS's own backups over the run: what rds-offsite finds.
func (d *driver) rdsSteps() []step {
	if d.pol.RDS == nil {
		return nil
	}
	var out []step
	for day := 1; day <= d.o.Days; day++ {
		end := DayAt(day, 1, 0)
		size := int64(dbBackupSize + day)
		out = append(out, step{at: end, what: fmt.Sprintf("RDS backs up %s (%d MiB) and %s (snapshot)", dbOrders, size>>20, dbBilling), do: func() error {
			if _, err := d.srv.RDS.AddBackup(rds.Backup{InstanceID: dbOrders, Start: end.Add(-25 * time.Minute), End: end, Size: size}); err != nil {
				return err
			}
			_, err := d.srv.RDS.AddBackup(rds.Backup{InstanceID: dbBilling, Start: end.Add(-10 * time.Minute), End: end, Size: 20 << 30})
			return err
		}})
		for h := 0; h < 24; h += 6 {
			logEnd := DayAt(day, h, 20)
			out = append(out, step{at: logEnd, what: "", do: func() error {
				_, err := d.srv.RDS.AddLogFile(rds.LogFile{InstanceID: dbOrders, Begin: logEnd.Add(-6 * time.Hour), End: logEnd, Size: 2 << 20})
				return err
			}})
		}
	}
	return out
}

// scheduleRDS arms RDS's backups on the clock (not trouble: printed as they happen, the
// binlog files silently).
func (d *driver) scheduleRDS(clock *core.Clock, end time.Time) {
	for _, s := range d.rdsSteps() {
		if s.at.After(end) {
			continue
		}
		clock.AfterFunc(s.at, func() {
			if s.what != "" {
				d.timelineDay(s.at)
				d.printWrapped(fmt.Sprintf("  %s  rds  ", s.at.In(shanghai).Format("15:04")), s.what)
			}
			if err := s.do(); err != nil {
				d.violate("rds step at %s: %v", stamp(s.at), err)
			}
		})
	}
}

// summarizeOffsite is the timeline line of an rds-offsite run.
func summarizeOffsite(s *offsite.Summary) string {
	var mib int64
	for _, it := range s.Copied {
		mib += it.Bytes
	}
	out := fmt.Sprintf("copied %d (%d MiB), already offsite %d", len(s.Copied), mib>>20, s.AlreadyOffsite)
	if len(s.InProgress) > 0 {
		out += fmt.Sprintf(", in progress %d", len(s.InProgress))
	}
	if len(s.Deleted) > 0 {
		out += fmt.Sprintf(", retention deleted %d", len(s.Deleted))
	}
	if len(s.Uncovered) > 0 {
		out += fmt.Sprintf(", not coverable %d (%s: snapshot backups, use RDS cross-region backup)", len(s.Uncovered), s.Uncovered[0].Instance)
	}
	if len(s.Failed) > 0 {
		out += fmt.Sprintf(", failed %d: %s", len(s.Failed), s.Failed[0].Reason)
	}
	return out
}

// DatabaseCheck is one DB instance's offsite state at the end of the run.
type DatabaseCheck struct {
	Entry catalog.DatabaseEntry
	// Verified: the newest copy was read back from the DR bucket and matched its manifest.
	Verified bool
	Read     int64
	Problems []string
}

// reportOffsite reads the DB entries of the DR catalog, reads the newest copy of each
// back from the bucket (offsite.Verify, as scripts/offsite-verify does) and checks that the
// catalogued backup is the newest RDS made.
func (d *driver) reportOffsite(ctx context.Context, rep *Report) {
	r := d.pol.RDS
	if r == nil {
		return
	}
	cred := d.srv.Credential()
	store, err := ossx.NewMultipart(d.srv.URL(), cred.AccessKeyID, cred.AccessKeySecret, "")
	if err != nil {
		d.violate("offsite: %v", err)
		return
	}
	dest := r.Destination.Region
	entries, err := catalog.ReadDatabases(ctx, store, d.pol.CatalogBucket(dest), d.pol.Name)
	if err != nil {
		d.violate("offsite: read DB catalog in %s: %v", dest, err)
		return
	}
	// The newest backup RDS had made when rds-offsite last ran.
	var lastRun time.Time
	for _, inv := range rep.Invocations {
		if strings.HasSuffix(inv.Function, "rds-offsite") && inv.Start.After(lastRun) {
			lastRun = inv.Start
		}
	}
	var newest rds.Backup
	for _, b := range d.srv.RDS.Backups(dbOrders) {
		if b.End.Before(lastRun) {
			newest = b
		}
	}
	found := false
	for _, e := range entries {
		c := DatabaseCheck{Entry: e}
		chk, err := offsite.Verify(ctx, store, r.Destination.Bucket, e.Manifest)
		switch {
		case err != nil:
			c.Problems = []string{err.Error()}
		default:
			c.Verified, c.Read, c.Problems = chk.OK(), chk.Read, chk.Problems
		}
		if !c.Verified {
			d.violate("offsite copy of %s (%s) does not read back: %v", e.InstanceID, e.Key, c.Problems)
		}
		if e.InstanceID == dbOrders {
			found = true
			if e.BackupID != newest.ID {
				d.violate("DR catalog has backup %s of %s, RDS's newest is %s", e.BackupID, dbOrders, newest.ID)
			}
		}
		rep.Databases = append(rep.Databases, c)
	}
	if !found {
		d.violate("DR catalog in %s has no offsite backup of %s", dest, dbOrders)
	}
	if ups := d.srv.OSS.Uploads(r.Destination.Bucket); len(ups) > 0 {
		d.violate("%d incomplete uploads left in %s", len(ups), r.Destination.Bucket)
	}
}

func printDatabases(w io.Writer, r *Report) {
	if len(r.Databases) == 0 {
		return
	}
	fmt.Fprintf(w, "\n=== databases: newest offsite copy per DB instance, read back and verified ===\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DB INSTANCE\tENGINE\tBACKUP\tDATA TIME\tLOGS UNTIL\tRPO\tSIZE\tREAD BACK")
	for _, c := range r.Databases {
		e := c.Entry
		logs := "-"
		if !e.LogsUntil.IsZero() {
			logs = e.LogsUntil.In(shanghai).Format("01-02 15:04")
		}
		verdict := "verified"
		if !c.Verified {
			verdict = fmt.Sprintf("FAILED: %v", c.Problems)
		}
		fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\t%s\t%s\t%d MiB\t%s\n", e.InstanceID, e.Engine, e.EngineVersion, e.BackupID,
			e.DataTime.In(shanghai).Format("01-02 15:04"), logs, (time.Duration(e.RPOSeconds) * time.Second).String(), e.Size>>20, verdict)
	}
	_ = tw.Flush()
}

// databasesOK completes the invariants line when databases were checked.
func databasesOK(r *Report) string {
	if len(r.Databases) == 0 {
		return ""
	}
	return "; each database's newest offsite backup read back from the DR bucket and verified against its manifest"
}
