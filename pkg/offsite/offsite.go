// Package offsite copies ApsaraDB RDS backup files to an OSS bucket in the DR region
// (function rds-offsite): for each DB instance the policy's rds section selects, it finds
// the backups not yet offsite, streams each file from its RDS download URL into the DR
// bucket with a multipart upload, verifies the stored object end to end, and records a
// manifest; then it applies retention and enters the newest verified copy in the DR
// catalog.
//
// Properties (each covered by a test):
//   - Constant memory: a file flows from the HTTP download into UploadPart through a
//     LimitReader; nothing holds a part, let alone a file (copy.go).
//   - Resumable: uploads are found again by key (ListUploads, ListParts); a run continues
//     the same upload after its last complete part. A run stops starting parts at
//     Deadline − Margin and reports the file as in progress; a run killed at any line
//     leaves at worst one half-sent part, which OSS never stores.
//   - Verified: the object's size and OSS's CRC-64 (x-oss-hash-crc64ecma, computed by OSS
//     from the parts) must equal RDS's BackupSize and Checksum (CRC-64/ECMA); when a
//     run streamed the whole file it also checks its own CRC before completing. A
//     mismatch deletes the object (or aborts the upload) and copies again.
//   - A backup is offsite only when its manifest exists (manifests/…json, written after
//     verification): a partial or unverified object is never reported, catalogued or
//     counted by retention.
//   - Lineage travels as object metadata: x-oss-meta-rds-instance, -backup-id,
//     -backup-time (data time), -engine, -method, -kind, -source-region, -checksum.
package offsite

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/rdsx"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// RDS is what the copier needs from ApsaraDB RDS (rdsx.Client implements it).
type RDS interface {
	// Instances lists DB instances of region by ids and/or tags (see rdsx.Client).
	Instances(ctx context.Context, region string, ids []string, tags map[string]string) ([]rdsx.Instance, error)
	// Backups lists full backups, newest first (backupID "" for all), with fresh URLs;
	// rdsx.IsNotFound for a deleted instance.
	Backups(ctx context.Context, in rdsx.Instance, backupID string) ([]rdsx.File, error)
	// LogFiles lists log files overlapping [from, to], with fresh URLs.
	LogFiles(ctx context.Context, in rdsx.Instance, from, to time.Time) ([]rdsx.File, error)
	// Open reads a file from offset: rdsx.IsLinkExpired, rdsx.IsGone classify failures.
	Open(ctx context.Context, f rdsx.File, offset int64) (io.ReadCloser, error)
}

// Catalog enters the newest verified copy of a DB instance in the DR catalog.
type Catalog interface {
	PutDatabase(ctx context.Context, policy string, e catalog.DatabaseEntry) (bool, error)
}

// Deps are the copier's collaborators and knobs.
type Deps struct {
	RDS    RDS
	Store  ossx.Multipart // a client for the DR region's endpoint
	Policy *policy.Policy
	Log    *slog.Logger
	// Catalog is optional (nil: no catalog entry).
	Catalog Catalog
	// Now is the decision time: the timer's due time (retention, RPO, upload ages).
	Now func() time.Time
	// Clock is the wall clock for the deadline and throughput (default time.Now).
	Clock func() time.Time
	// Deadline of the invocation (zero: none). No part is started after Deadline − Margin.
	Deadline time.Time
	// Margin before Deadline (default 30s): room to finish a part, log and flush.
	Margin time.Duration
	// MaxAttempts per file and run when verification fails (default 2).
	MaxAttempts int
	// PartAttempts per part on a retryable download or upload error (default 3).
	PartAttempts int
	// StaleUpload: incomplete uploads initiated longer ago are aborted (default 24h),
	// except the ones this run continues.
	StaleUpload time.Duration
}

// Record results.
const (
	ResultOK         = "ok"
	ResultFailed     = "failed"
	ResultSkipped    = "skipped"
	ResultInProgress = "in-progress"
)

// Item is one outcome, as logged.
type Item struct {
	Region    string `json:"region"`
	Instance  string `json:"instance,omitempty"`
	Backup    string `json:"backup,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Key       string `json:"key,omitempty"`
	Bytes     int64  `json:"bytes,omitempty"`
	Parts     int    `json:"parts,omitempty"`
	Reason    string `json:"reason,omitempty"`
	ErrorCode string `json:"errorCode,omitempty"`
	Retryable bool   `json:"retryable,omitempty"`
}

// Summary is what a run did.
type Summary struct {
	Instances  int    `json:"instances"`
	Copied     []Item `json:"copied,omitempty"`
	InProgress []Item `json:"inProgress,omitempty"`
	Uncovered  []Item `json:"uncovered,omitempty"`
	Failed     []Item `json:"failed,omitempty"`
	Deleted    []Item `json:"deleted,omitempty"`
	Aborted    []Item `json:"aborted,omitempty"`
	// AlreadyOffsite counts files with a manifest (nothing to do).
	AlreadyOffsite int `json:"alreadyOffsite"`
	// Bytes uploaded by this run (parts sent, whatever became of them).
	Bytes int64 `json:"bytes"`
	// Catalogued DB instances (entries written or confirmed).
	Catalogued int `json:"catalogued"`
}

// Retryable reports whether a failure of this run may succeed on the next one.
func (s Summary) Retryable() bool {
	for _, it := range s.Failed {
		if it.Retryable {
			return true
		}
	}
	return false
}

// Recommendation for instances whose backups cannot be copied (cloud-disk snapshots).
const Recommendation = "enable RDS cross-region backup for this instance (console: Backup and Restore > Cross-region backup; API ModifyInstanceCrossBackupPolicy): " +
	"its snapshot backups have no download URL, and the pinned SDK has no DBS advanced-download export"

type run struct {
	Deps
	rds     *policy.RDS
	bucket  string
	prefix  string
	log     *slog.Logger
	sum     Summary
	started time.Time
	// continuing: keys of uploads this run continues or starts (never aborted as stale).
	continuing map[string]bool
	stopped    bool // the deadline was reached
}

// Run copies, verifies, applies retention and updates the catalog. The error is nil
// when every failure was recorded in the summary (a failure of one file does not stop the
// others); it is non-nil for what stops the whole run: no RDS section, a bad bucket, a
// cancelled context.
func (d Deps) Run(ctx context.Context) (Summary, error) {
	r, err := d.start()
	if err != nil {
		return Summary{}, err
	}
	dest := r.rds.Destination
	region, err := r.Store.BucketRegion(ctx, r.bucket)
	switch {
	case errors.Is(err, ossx.ErrNotFound):
		err = fmt.Errorf("offsite: bucket %s does not exist (create it in %s)", r.bucket, dest.Region)
		r.fail(ctx, Item{Region: dest.Region, Reason: err.Error(), ErrorCode: "NoSuchBucket"}, err)
		return r.sum, err
	case err != nil:
		err = fmt.Errorf("offsite: bucket %s: %w", r.bucket, err)
		r.fail(ctx, Item{Region: dest.Region, Reason: err.Error(), ErrorCode: ossx.Code(err), Retryable: ossx.IsRetryable(err)}, err)
		return r.sum, err
	case region != dest.Region:
		err = fmt.Errorf("offsite: bucket %s is in %s, not in the DR region %s: refusing to copy there", r.bucket, region, dest.Region)
		r.fail(ctx, Item{Region: dest.Region, Reason: err.Error(), ErrorCode: "BucketRegionMismatch"}, err)
		return r.sum, err
	}
	for _, src := range r.rds.Sources {
		instances, err := r.selectInstances(ctx, src)
		if err != nil {
			if ctx.Err() != nil {
				return r.sum, ctx.Err()
			}
			r.fail(ctx, Item{Region: src.Region, Reason: err.Error(), ErrorCode: rdsx.Code(err), Retryable: rdsx.IsRetryable(err)}, err)
			continue
		}
		for _, in := range instances {
			r.sum.Instances++
			if err := r.instance(ctx, in); err != nil {
				return r.sum, err
			}
		}
	}
	if err := r.abortStale(ctx); err != nil {
		return r.sum, err
	}
	return r.sum, ctx.Err()
}

func (d Deps) start() (*run, error) {
	switch {
	case d.Policy == nil:
		return nil, errors.New("offsite: deps: policy is required")
	case d.Policy.RDS == nil:
		return nil, errors.New("offsite: the policy has no rds section")
	case d.RDS == nil || d.Store == nil:
		return nil, errors.New("offsite: deps: RDS and Store are required")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Clock == nil {
		d.Clock = time.Now
	}
	if d.Margin == 0 {
		d.Margin = 30 * time.Second
	}
	if d.MaxAttempts <= 0 {
		d.MaxAttempts = 2
	}
	if d.PartAttempts <= 0 {
		d.PartAttempts = 3
	}
	if d.StaleUpload == 0 {
		d.StaleUpload = 24 * time.Hour
	}
	rp := d.Policy.RDS
	return &run{Deps: d, rds: rp, bucket: rp.Destination.Bucket, prefix: rp.Destination.KeyPrefix(),
		log: d.Log.With("policy", d.Policy.Name), started: d.Clock(), continuing: map[string]bool{}}, nil
}

// deadlineNear: no new part may start.
func (r *run) deadlineNear() bool {
	return !r.Deadline.IsZero() && !r.Clock().Before(r.Deadline.Add(-r.Margin))
}

// record logs one outcome with the image functions' keys (action, region, instance,
// result, reason, error_code, duration_ms) plus the copy's own (backup, key, bytes,
// throughput_mbps).
func (r *run) record(ctx context.Context, action, result string, it Item, err error, started time.Time) {
	level := slog.LevelInfo
	if result == ResultFailed {
		level = slog.LevelError
	}
	attrs := []slog.Attr{slog.String("action", action), slog.String("region", it.Region), slog.String("result", result)}
	add := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	add("instance", it.Instance)
	add("backup", it.Backup)
	add("kind", it.Kind)
	add("key", it.Key)
	add("reason", it.Reason)
	add("error_code", it.ErrorCode)
	if it.Bytes > 0 {
		attrs = append(attrs, slog.Int64("bytes", it.Bytes))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	if !started.IsZero() {
		d := r.Clock().Sub(started)
		attrs = append(attrs, slog.Int64("duration_ms", d.Milliseconds()))
		if it.Bytes > 0 && d > 0 {
			attrs = append(attrs, slog.Float64("throughput_mbps", float64(it.Bytes)/d.Seconds()/(1<<20)))
		}
	}
	r.log.LogAttrs(ctx, level, action+" "+result, attrs...)
}

func (r *run) fail(ctx context.Context, it Item, err error) {
	r.record(ctx, "offsite", ResultFailed, it, err, time.Time{})
	r.sum.Failed = append(r.sum.Failed, it)
}

// selectInstances resolves ids and selectors; a listed id that does not exist gets a
// failed record (deleted instance), once.
func (r *run) selectInstances(ctx context.Context, src policy.RDSSource) ([]rdsx.Instance, error) {
	byID := map[string]rdsx.Instance{}
	if len(src.InstanceIDs) > 0 {
		ins, err := r.RDS.Instances(ctx, src.Region, src.InstanceIDs, nil)
		if err != nil {
			return nil, err
		}
		for _, in := range ins {
			byID[in.ID] = in
		}
		for _, id := range src.InstanceIDs {
			if _, ok := byID[id]; !ok {
				err := fmt.Errorf("offsite: DB instance %s is not in %s (deleted or moved); its offsite copies are kept", id, src.Region)
				r.fail(ctx, Item{Region: src.Region, Instance: id, Reason: err.Error(), ErrorCode: "InvalidDBInstanceId.NotFound"}, nil)
			}
		}
	}
	for _, sel := range src.Selectors {
		ins, err := r.RDS.Instances(ctx, src.Region, nil, sel)
		if err != nil {
			return nil, err
		}
		for _, in := range ins {
			byID[in.ID] = in
		}
	}
	out := make([]rdsx.Instance, 0, len(byID))
	for _, in := range byID {
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b rdsx.Instance) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// instance copies what one DB instance lacks offsite, then applies retention and
// updates the catalog. Only a cancelled context is returned.
func (r *run) instance(ctx context.Context, in rdsx.Instance) error {
	base := Item{Region: in.Region, Instance: in.ID}
	manifests, err := r.manifests(ctx, in)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		it := base
		it.Reason, it.ErrorCode, it.Retryable = err.Error(), ossx.Code(err), ossx.IsRetryable(err)
		r.fail(ctx, it, err)
		return nil
	}
	have := map[string]bool{}
	for _, m := range manifests {
		have[m.Kind+"/"+m.BackupID] = true
	}
	var todo []rdsx.File
	var fulls []rdsx.File
	listed := map[string]rdsx.File{} // data key → file RDS still lists
	if r.rds.Backups.CopyFull() {
		fulls, err = r.RDS.Backups(ctx, in, "")
		if err != nil {
			return r.listFailed(ctx, base, err)
		}
		uncovered := false
		for _, f := range fulls {
			if f.URL == "" {
				uncovered = true
			}
		}
		if uncovered {
			it := base
			it.Reason = fmt.Sprintf("%s instance on %s: %s", in.Engine, in.StorageType, Recommendation)
			it.ErrorCode = "NoDownloadURL"
			r.record(ctx, "offsite", ResultSkipped, it, nil, time.Time{})
			r.sum.Uncovered = append(r.sum.Uncovered, it)
		}
		todo = append(todo, r.fullsToCopy(fulls, manifests, have)...)
	}
	if r.rds.Backups.Logs && !strings.EqualFold(in.Engine, "SQLServer") {
		from := r.logsFrom(manifests, fulls)
		logs, err := r.RDS.LogFiles(ctx, in, from, r.Now())
		if err != nil {
			return r.listFailed(ctx, base, err)
		}
		for _, f := range logs {
			listed[r.dataKey(f)] = f
			if f.URL == "" {
				continue
			}
			if have[manifestID(f)] {
				r.sum.AlreadyOffsite++
				continue
			}
			todo = append(todo, f)
		}
	}
	for _, f := range todo {
		r.continuing[r.dataKey(f)] = true
	}
	for _, f := range fulls {
		listed[r.dataKey(f)] = f
	}
	if err := r.orphanUploads(ctx, in, listed); err != nil {
		return err
	}
	for _, f := range todo {
		if r.stopped || r.deadlineNear() {
			r.stopped = true
			it := r.item(f)
			it.Reason = "deadline: left for the next run"
			r.record(ctx, "offsite", ResultInProgress, it, nil, time.Time{})
			r.sum.InProgress = append(r.sum.InProgress, it)
			continue
		}
		m, err := r.copy(ctx, in, f)
		if err != nil {
			return err // context ended
		}
		if m != nil {
			manifests = append(manifests, *m)
		}
	}
	if err := r.retention(ctx, in, manifests); err != nil {
		return err
	}
	return r.catalogue(ctx, in, manifests)
}

func (r *run) listFailed(ctx context.Context, base Item, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	it := base
	it.Reason, it.ErrorCode, it.Retryable = err.Error(), rdsx.Code(err), rdsx.IsRetryable(err)
	if rdsx.IsNotFound(err) {
		it.Reason = fmt.Sprintf("DB instance %s was deleted: nothing more to copy; its offsite copies are kept", base.Instance)
	}
	r.fail(ctx, it, err)
	return nil
}

// fullsToCopy: the full backups with a URL and no manifest that retention would keep
// if they were offsite (copying one that cleanup deletes next is waste), newest first
// so a deadline leaves the best RPO.
func (r *run) fullsToCopy(fulls []rdsx.File, manifests []Manifest, have map[string]bool) []rdsx.File {
	var cands []rdsx.File
	for _, f := range fulls {
		switch {
		case f.URL == "":
		case have[manifestID(f)]:
			r.sum.AlreadyOffsite++
		default:
			cands = append(cands, f)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	var all []Manifest
	for _, m := range manifests {
		if m.Kind == rdsx.KindFull {
			all = append(all, m)
		}
	}
	for _, f := range cands {
		all = append(all, Manifest{Kind: rdsx.KindFull, Instance: f.InstanceID, BackupID: f.ID, DataTime: f.DataTime})
	}
	keep := map[string]bool{}
	for _, m := range planFulls(all, r.rds.Retention, r.Policy.Location(), r.Now()).keep {
		keep[m.BackupID] = true
	}
	var out []rdsx.File
	for _, f := range cands {
		if keep[f.ID] {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b rdsx.File) int { return cmp.Or(b.DataTime.Compare(a.DataTime), strings.Compare(a.ID, b.ID)) })
	return out
}

// logsFrom is where log copies start: after the newest log offsite, else at the oldest
// full backup kept (logs older than every full backup restore nothing), else 7 days ago.
func (r *run) logsFrom(manifests []Manifest, fulls []rdsx.File) time.Time {
	var newestLog, oldestFull time.Time
	for _, m := range manifests {
		if m.Kind == rdsx.KindLog && m.DataTime.After(newestLog) {
			newestLog = m.DataTime
		}
		if m.Kind == rdsx.KindFull && (oldestFull.IsZero() || m.BackupStart.Before(oldestFull)) {
			oldestFull = m.BackupStart
		}
	}
	for _, f := range fulls {
		if oldestFull.IsZero() || f.Start.Before(oldestFull) {
			oldestFull = f.Start
		}
	}
	switch {
	case !newestLog.IsZero():
		return newestLog.Add(-time.Second)
	case !oldestFull.IsZero():
		return oldestFull
	}
	return r.Now().Add(-7 * 24 * time.Hour)
}

func (r *run) item(f rdsx.File) Item {
	return Item{Region: f.Region, Instance: f.InstanceID, Backup: f.ID, Kind: f.Kind, Key: r.dataKey(f)}
}

// orphanUploads aborts the instance's uploads of full backups that RDS no longer lists:
// the backup left RDS before its copy finished (its RDS retention ended). That is a clear,
// final record: it will never be a backup. Other uploads no run continues are left to the
// stale-upload sweep (a concurrent run may own them).
func (r *run) orphanUploads(ctx context.Context, in rdsx.Instance, listed map[string]rdsx.File) error {
	if !r.rds.Backups.CopyFull() {
		return nil
	}
	fullPrefix := r.instancePrefix(in.Region, in.ID) + rdsx.KindFull + "/"
	ups, err := r.Store.ListUploads(ctx, r.bucket, fullPrefix)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.fail(ctx, Item{Region: in.Region, Instance: in.ID, Reason: "list uploads: " + err.Error(), ErrorCode: ossx.Code(err), Retryable: ossx.IsRetryable(err)}, err)
		return nil
	}
	for _, u := range ups {
		_, id, ok := strings.Cut(strings.TrimPrefix(u.Key, fullPrefix), "-")
		if r.continuing[u.Key] || !ok || id == "" {
			continue
		}
		if _, still := listed[u.Key]; still {
			continue
		}
		it := Item{Region: in.Region, Instance: in.ID, Key: u.Key, Backup: id, Kind: rdsx.KindFull, ErrorCode: "BackupExpired",
			Reason: "backup " + id + " left RDS before its copy finished (its RDS retention ended): partial upload aborted, nothing offsite for it"}
		if err := r.Store.Abort(ctx, r.bucket, u.Key, u.UploadID); err != nil && !errors.Is(err, ossx.ErrNotFound) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			it.ErrorCode, it.Retryable = ossx.Code(err), ossx.IsRetryable(err)
			r.fail(ctx, it, err)
			continue
		}
		r.sum.Aborted = append(r.sum.Aborted, it)
		r.fail(ctx, it, nil)
	}
	return nil
}
