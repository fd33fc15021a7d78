package offsite

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"hash/crc64"
	"io"
	"slices"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/rdsx"
)

var crcTable = crc64.MakeTable(crc64.ECMA)

// errStop: the deadline came; the upload stays for the next run.
var errStop = errors.New("deadline reached")

// copyError is a failed copy attempt with what the record needs.
type copyError struct {
	code      string
	retryable bool
	// final: the file cannot be copied any more (it left RDS, the instance was deleted).
	final bool
	err   error
}

func (e *copyError) Error() string { return e.err.Error() }
func (e *copyError) Unwrap() error { return e.err }

// copy brings one file offsite and returns its manifest (nil when it did not finish).
// Only a cancelled context is returned as an error; every other outcome is recorded.
func (r *run) copy(ctx context.Context, in rdsx.Instance, f rdsx.File) (*Manifest, error) {
	started := r.Clock()
	it := r.item(f)
	var sent int64
	for attempt := 1; ; attempt++ {
		m, n, err := r.attempt(ctx, in, &f)
		sent += n
		r.sum.Bytes += n
		it.Bytes = sent
		switch {
		case err == nil:
			it.Bytes = m.Size
			it.Reason = fmt.Sprintf("verified: %d bytes, crc64 %s; %d bytes sent by this run", m.Size, m.CRC64, sent)
			r.record(ctx, "offsite", ResultOK, it, nil, started)
			r.sum.Copied = append(r.sum.Copied, it)
			return m, nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, errStop):
			r.stopped = true
			it.Reason = "deadline: upload continues in the next run"
			r.record(ctx, "offsite", ResultInProgress, it, nil, started)
			r.sum.InProgress = append(r.sum.InProgress, it)
			return nil, nil
		}
		var ce *copyError
		if !errors.As(err, &ce) {
			ce = &copyError{code: ossx.Code(err), retryable: ossx.IsRetryable(err), err: err}
		}
		it.Reason, it.ErrorCode, it.Retryable = ce.Error(), ce.code, ce.retryable
		if ce.final || !ce.retryable || attempt >= r.MaxAttempts || r.deadlineNear() {
			r.record(ctx, "offsite", ResultFailed, it, nil, started)
			r.sum.Failed = append(r.sum.Failed, it)
			return nil, nil
		}
		r.record(ctx, "offsite", "retry", it, nil, started)
	}
}

// attempt runs one copy attempt: adopt a verified object or an upload in progress,
// upload the missing parts, complete, verify, write the manifest. n is the bytes sent.
func (r *run) attempt(ctx context.Context, in rdsx.Instance, f *rdsx.File) (m *Manifest, n int64, err error) {
	key := r.dataKey(*f)
	// A complete object without manifest: a run died between Complete and the manifest.
	if meta, err := r.Store.Head(ctx, r.bucket, key); err == nil {
		if verr := verify(*f, meta, nil); verr == nil {
			m, err := r.writeManifest(ctx, *f, meta, r.Now())
			return m, 0, err
		} else if err := r.Store.Delete(ctx, r.bucket, key); err != nil && !errors.Is(err, ossx.ErrNotFound) {
			return nil, 0, err
		}
	} else if !errors.Is(err, ossx.ErrNotFound) {
		return nil, 0, err
	}
	partSize := r.rds.PartSize()
	if f.Size > 10000*partSize {
		return nil, 0, &copyError{code: "EntityTooLarge", final: true,
			err: fmt.Errorf("%d bytes need more than 10000 parts of %d MiB: raise rds.partSizeMiB", f.Size, partSize>>20)}
	}
	uploadID, parts, err := r.resumable(ctx, key, partSize, f.Size)
	if err != nil {
		return nil, 0, err
	}
	if uploadID == "" {
		sse, kms := "", ""
		if e := r.rds.Destination.Encryption; e != nil {
			sse, kms = e.SSE, e.KMSKeyID
		}
		uploadID, err = r.Store.Initiate(ctx, r.bucket, key, ossx.InitOptions{ContentType: "application/octet-stream",
			Metadata: r.lineage(*f), SSE: sse, KMSKeyID: kms})
		if err != nil {
			return nil, 0, err
		}
	}
	offset := int64(len(parts)) * partSize
	// Our own CRC only when this attempt streams the whole file.
	var running hash.Hash64
	if offset == 0 {
		running = crc64.New(crcTable)
	}
	abort := func(cause *copyError) (*Manifest, int64, error) {
		if err := r.Store.Abort(ctx, r.bucket, key, uploadID); err != nil && !errors.Is(err, ossx.ErrNotFound) && ctx.Err() == nil {
			cause.err = fmt.Errorf("%w (abort upload: %v)", cause.err, err)
		}
		return nil, n, cause
	}
	var body io.ReadCloser
	defer func() {
		if body != nil {
			body.Close()
		}
	}()
	for number := len(parts) + 1; offset < f.Size || (f.Size == 0 && number == 1); number++ {
		if r.deadlineNear() {
			return nil, n, errStop
		}
		size := min(partSize, f.Size-offset)
		var part ossx.Part
		for try := 1; ; try++ {
			if body == nil {
				body, err = r.open(ctx, in, f, offset)
				if err != nil {
					var ce *copyError
					if errors.As(err, &ce) && ce.final {
						return abort(ce)
					}
					if try < r.PartAttempts && ctx.Err() == nil && isRetryableCopy(err) {
						continue
					}
					return nil, n, err
				}
			}
			src := &tracked{r: io.LimitReader(body, size)}
			var rd io.Reader = src
			if running != nil {
				rd = io.TeeReader(src, running)
			}
			part, err = r.Store.UploadPart(ctx, r.bucket, key, uploadID, number, rd, size)
			if err == nil && src.n == size {
				break
			}
			// The part failed: its bytes may be half read, so the stream is dropped and
			// reopened at the part's offset; OSS kept nothing of a failed part.
			body.Close()
			body = nil
			if running != nil {
				running = nil // bytes of the failed part were hashed: own CRC no longer usable
			}
			if err == nil {
				err = fmt.Errorf("download ended after %d of %d bytes", src.n, size)
			}
			if src.err != nil && src.err != io.EOF {
				err = &copyError{code: "DownloadInterrupted", retryable: true, err: fmt.Errorf("download of part %d: %w", number, src.err)}
			}
			if ctx.Err() != nil || try >= r.PartAttempts || !isRetryableCopy(err) {
				return nil, n, err
			}
		}
		n += size
		parts = append(parts, part)
		offset += size
	}
	if running != nil && f.HasChecksum && running.Sum64() != f.Checksum {
		return abort(&copyError{code: "ChecksumMismatch", retryable: true,
			err: fmt.Errorf("downloaded bytes have crc64 %d, RDS reports %d: corrupted in transit; upload aborted", running.Sum64(), f.Checksum)})
	}
	if err := r.Store.Complete(ctx, r.bucket, key, uploadID, parts); err != nil {
		return nil, n, err
	}
	meta, err := r.Store.Head(ctx, r.bucket, key)
	if err != nil {
		return nil, n, err
	}
	if verr := verify(*f, meta, running); verr != nil {
		if err := r.Store.Delete(ctx, r.bucket, key); err != nil && !errors.Is(err, ossx.ErrNotFound) && ctx.Err() == nil {
			verr.err = fmt.Errorf("%w (delete: %v)", verr.err, err)
		}
		return nil, n, verr
	}
	m, err = r.writeManifest(ctx, *f, meta, r.Now())
	return m, n, err
}

// verify checks a stored object against RDS's size and checksum (and the run's own CRC
// when it has one). Without an RDS checksum the object's CRC must equal the run's own.
func verify(f rdsx.File, meta ossx.Meta, running hash.Hash64) *copyError {
	fail := func(format string, a ...any) *copyError {
		return &copyError{code: "VerifyFailed", retryable: true, err: fmt.Errorf("verification failed: "+format+"; object deleted", a...)}
	}
	switch {
	case meta.Size != f.Size:
		return fail("stored %d bytes, RDS reports %d", meta.Size, f.Size)
	case !meta.HasCRC:
		return fail("OSS returned no x-oss-hash-crc64ecma")
	case f.HasChecksum && meta.CRC64 != f.Checksum:
		return fail("OSS crc64 %d, RDS checksum %d", meta.CRC64, f.Checksum)
	case running != nil && meta.CRC64 != running.Sum64():
		return fail("OSS crc64 %d, downloaded bytes %d", meta.CRC64, running.Sum64())
	case !f.HasChecksum && running == nil:
		return fail("RDS reports no checksum and the upload was resumed: nothing to compare OSS's crc64 %d with", meta.CRC64)
	}
	return nil
}

// resumable finds an upload of key to continue: the newest one whose parts are 1..k of
// partSize each (the others are aborted). It returns "" to start a new one.
func (r *run) resumable(ctx context.Context, key string, partSize, size int64) (string, []ossx.Part, error) {
	ups, err := r.Store.ListUploads(ctx, r.bucket, key)
	if err != nil {
		return "", nil, err
	}
	var mine []ossx.Upload
	for _, u := range ups {
		if u.Key == key {
			mine = append(mine, u)
		}
	}
	slices.SortFunc(mine, func(a, b ossx.Upload) int { return b.Initiated.Compare(a.Initiated) })
	chosen := ""
	var parts []ossx.Part
	for _, u := range mine {
		if chosen == "" {
			ps, err := r.Store.ListParts(ctx, r.bucket, key, u.UploadID)
			if err != nil && !errors.Is(err, ossx.ErrNotFound) {
				return "", nil, err
			}
			if err == nil {
				slices.SortFunc(ps, func(a, b ossx.Part) int { return a.Number - b.Number })
				// Keep the contiguous run 1..k of full parts; anything else is started over.
				k := 0
				for k < len(ps) && ps[k].Number == k+1 && ps[k].Size == partSize && int64(k+1)*partSize <= size {
					k++
				}
				chosen, parts = u.UploadID, ps[:k]
				continue
			}
		}
		if err := r.Store.Abort(ctx, r.bucket, key, u.UploadID); err != nil && !errors.Is(err, ossx.ErrNotFound) {
			return "", nil, err
		}
	}
	return chosen, parts, nil
}

// open starts the download of f at offset. An expired link is refreshed once (a new
// DescribeBackups / DescribeBinlogFiles); a file that left RDS is final.
func (r *run) open(ctx context.Context, in rdsx.Instance, f *rdsx.File, offset int64) (io.ReadCloser, error) {
	body, err := r.RDS.Open(ctx, *f, offset)
	if err == nil || !rdsx.IsLinkExpired(err) {
		return body, r.classifyDownload(f, err)
	}
	r.record(ctx, "offsite", "retry", Item{Region: f.Region, Instance: f.InstanceID, Backup: f.ID, Kind: f.Kind,
		Reason: "download URL expired: fetching a new one", ErrorCode: rdsx.Code(err)}, nil, time.Time{})
	fresh, ferr := r.refresh(ctx, in, *f)
	if ferr != nil {
		return nil, ferr
	}
	f.URL = fresh.URL
	body, err = r.RDS.Open(ctx, *f, offset)
	return body, r.classifyDownload(f, err)
}

func (r *run) classifyDownload(f *rdsx.File, err error) error {
	switch {
	case err == nil:
		return nil
	case rdsx.IsGone(err):
		return &copyError{code: "BackupExpired", final: true,
			err: fmt.Errorf("backup %s left RDS before it was copied (its retention ended); the partial upload is aborted", f.ID)}
	case rdsx.IsLinkExpired(err):
		return &copyError{code: "LinkExpired", retryable: true, err: fmt.Errorf("download URL of %s expired again right after a refresh: %w", f.ID, err)}
	}
	return &copyError{code: rdsx.Code(err), retryable: rdsx.IsRetryable(err), err: err}
}

// refresh asks RDS for the file again (a new URL); a file no longer listed is final.
func (r *run) refresh(ctx context.Context, in rdsx.Instance, f rdsx.File) (rdsx.File, error) {
	var list []rdsx.File
	var err error
	if f.Kind == rdsx.KindFull {
		list, err = r.RDS.Backups(ctx, in, f.ID)
	} else {
		list, err = r.RDS.LogFiles(ctx, in, f.Start.Add(-time.Second), f.DataTime.Add(time.Second))
	}
	if err != nil {
		if rdsx.IsNotFound(err) {
			return f, &copyError{code: "InvalidDBInstanceId.NotFound", final: true,
				err: fmt.Errorf("DB instance %s was deleted while %s was being copied; the partial upload is aborted", f.InstanceID, f.ID)}
		}
		return f, &copyError{code: rdsx.Code(err), retryable: rdsx.IsRetryable(err), err: err}
	}
	for _, g := range list {
		if g.ID == f.ID && g.URL != "" {
			return g, nil
		}
	}
	return f, &copyError{code: "BackupExpired", final: true,
		err: fmt.Errorf("backup %s left RDS before it was copied (its retention ended); the partial upload is aborted", f.ID)}
}

func isRetryableCopy(err error) bool {
	var ce *copyError
	if errors.As(err, &ce) {
		return ce.retryable && !ce.final
	}
	return ossx.IsRetryable(err) || rdsx.IsRetryable(err)
}

// tracked counts what a part read from the download and keeps the download's error
// apart from the upload's.
type tracked struct {
	r   io.Reader
	n   int64
	err error
}

func (t *tracked) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.n += int64(n)
	if err != nil {
		t.err = err
	}
	return n, err
}
