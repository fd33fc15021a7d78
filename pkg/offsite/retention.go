package offsite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/rdsx"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/retention"
)

type fullPlan struct {
	keep, drop []Manifest
}

// planFulls applies the rds retention rule to the full backups of one instance with the
// image planner (pkg/retention): the same keepLast / keepDays / daily / weekly / monthly
// union, in the policy timezone, and the newest verified copy always kept.
func planFulls(fulls []Manifest, rule policy.RetentionRule, loc *time.Location, now time.Time) fullPlan {
	const region = "rds"
	pol := &policy.Policy{Timezone: loc.String(), Sources: []policy.Source{{Region: region}}, Retention: policy.Retention{Source: rule}}
	imgs := make([]retention.Image, 0, len(fulls))
	byID := map[string]Manifest{}
	for _, m := range fulls {
		byID[m.BackupID] = m
		imgs = append(imgs, retention.Image{ID: m.BackupID, Region: region, InstanceID: m.Instance, Status: retention.StatusAvailable,
			Created: m.DataTime, Role: "source", Managed: true})
	}
	var p fullPlan
	for _, d := range retention.PlanCleanup(imgs, pol, now).Decisions {
		if d.Delete {
			p.drop = append(p.drop, byID[d.Image.ID])
		} else {
			p.keep = append(p.keep, byID[d.Image.ID])
		}
	}
	return p
}

// retention deletes the offsite copies of one instance that the rule does not keep:
// full backups by the rule (never the newest verified one), and log files older than the
// start of the oldest full backup kept (no kept backup can replay them). The manifest
// goes first, so a run killed in between leaves an unlisted object, never a manifest
// without its file; the object then goes as an orphan.
func (r *run) retention(ctx context.Context, in rdsx.Instance, manifests []Manifest) error {
	var fulls, logs []Manifest
	for _, m := range manifests {
		switch m.Kind {
		case rdsx.KindFull:
			fulls = append(fulls, m)
		case rdsx.KindLog:
			logs = append(logs, m)
		}
	}
	if len(fulls) == 0 {
		return nil // logs without any full backup offsite: keep them all
	}
	plan := planFulls(fulls, r.rds.Retention, r.Policy.Location(), r.Now())
	oldestKept := time.Time{}
	for _, m := range plan.keep {
		if oldestKept.IsZero() || m.BackupStart.Before(oldestKept) {
			oldestKept = m.BackupStart
		}
	}
	drop := plan.drop
	for _, m := range logs {
		if m.DataTime.Before(oldestKept) {
			drop = append(drop, m)
		}
	}
	for _, m := range drop {
		it := Item{Region: in.Region, Instance: in.ID, Backup: m.BackupID, Kind: m.Kind, Key: m.Key, Bytes: m.Size,
			Reason: fmt.Sprintf("retention: data of %s not kept by the rule", m.DataTime.UTC().Format(time.RFC3339))}
		var err error
		for _, k := range []string{m.ManifestKey, m.Key} {
			if e := r.Store.Delete(ctx, r.bucket, k); e != nil && !errors.Is(e, ossx.ErrNotFound) {
				err = e
				break
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			it.ErrorCode, it.Retryable = ossx.Code(err), ossx.IsRetryable(err)
			r.record(ctx, "offsite-delete", ResultFailed, it, err, time.Time{})
			r.sum.Failed = append(r.sum.Failed, it)
			continue
		}
		r.record(ctx, "offsite-delete", ResultOK, it, nil, time.Time{})
		r.sum.Deleted = append(r.sum.Deleted, it)
	}
	return nil
}

// abortStale aborts incomplete uploads under the prefix initiated more than StaleUpload
// before now, except those this run continues (a long copy resumed across runs).
func (r *run) abortStale(ctx context.Context) error {
	ups, err := r.Store.ListUploads(ctx, r.bucket, r.prefix)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.fail(ctx, Item{Region: r.rds.Destination.Region, Reason: "list incomplete uploads: " + err.Error(), ErrorCode: ossx.Code(err), Retryable: ossx.IsRetryable(err)}, err)
		return nil
	}
	cutoff := r.Now().Add(-r.StaleUpload)
	for _, u := range ups {
		if r.continuing[u.Key] || !u.Initiated.Before(cutoff) {
			continue
		}
		it := Item{Region: r.rds.Destination.Region, Key: u.Key, Reason: "incomplete upload initiated " + u.Initiated.UTC().Format(time.RFC3339) + ", older than " + r.StaleUpload.String()}
		if err := r.Store.Abort(ctx, r.bucket, u.Key, u.UploadID); err != nil && !errors.Is(err, ossx.ErrNotFound) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			it.ErrorCode, it.Retryable = ossx.Code(err), ossx.IsRetryable(err)
			r.record(ctx, "offsite-abort", ResultFailed, it, err, time.Time{})
			r.sum.Failed = append(r.sum.Failed, it)
			continue
		}
		r.record(ctx, "offsite-abort", ResultOK, it, nil, time.Time{})
		r.sum.Aborted = append(r.sum.Aborted, it)
	}
	return nil
}

// catalogue enters the newest verified full backup of the instance (and how far its
// logs reach) in the DR catalog.
func (r *run) catalogue(ctx context.Context, in rdsx.Instance, manifests []Manifest) error {
	if r.Catalog == nil {
		return nil
	}
	var newest *Manifest
	logsUntil := time.Time{}
	for i, m := range manifests {
		if m.Kind == rdsx.KindFull && (newest == nil || m.DataTime.After(newest.DataTime) ||
			m.DataTime.Equal(newest.DataTime) && strings.Compare(m.BackupID, newest.BackupID) < 0) {
			newest = &manifests[i]
		}
	}
	if newest == nil {
		return nil
	}
	for _, m := range manifests {
		if m.Kind == rdsx.KindLog && m.DataTime.After(newest.DataTime) && m.DataTime.After(logsUntil) {
			logsUntil = m.DataTime
		}
	}
	point := newest.DataTime
	if !logsUntil.IsZero() {
		point = logsUntil
	}
	copied := newest.CopiedAt
	for _, m := range manifests {
		if m.Kind == rdsx.KindLog && m.DataTime.Equal(logsUntil) && m.CopiedAt.After(copied) {
			copied = m.CopiedAt
		}
	}
	e := catalog.DatabaseEntry{InstanceID: in.ID, Region: r.rds.Destination.Region, SourceRegion: in.Region, Engine: newest.Engine,
		EngineVersion: newest.EngineVersion, BackupID: newest.BackupID, Method: newest.Method, Bucket: r.bucket, Key: newest.Key,
		Manifest: newest.ManifestKey, Size: newest.Size, CRC64: newest.CRC64, DataTime: newest.DataTime, LogsUntil: logsUntil,
		CopiedAt: copied, RPOSeconds: int64(max(copied.Sub(point), 0) / time.Second)}
	it := Item{Region: r.rds.Destination.Region, Instance: in.ID, Backup: newest.BackupID, Kind: rdsx.KindFull}
	if _, err := r.Catalog.PutDatabase(ctx, r.Policy.Name, e); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		it.Reason, it.ErrorCode, it.Retryable = err.Error(), ossx.Code(err), ossx.IsRetryable(err)
		r.record(ctx, "offsite-catalog", ResultFailed, it, err, time.Time{})
		r.sum.Failed = append(r.sum.Failed, it)
		return nil
	}
	r.sum.Catalogued++
	it.Reason = fmt.Sprintf("newest offsite data %s, rpo %ds", point.UTC().Format(time.RFC3339), e.RPOSeconds)
	r.record(ctx, "offsite-catalog", ResultOK, it, nil, time.Time{})
	return nil
}
