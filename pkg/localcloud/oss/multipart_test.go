package oss

import (
	"bytes"
	"hash/crc64"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
)

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestMultipartUploadThroughSDK(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	t.Cleanup(func() { _ = f.svc.Close() })
	b := f.bucket(t, "mp-bucket")
	key := "rds/rm-1/backup 1.xb"
	imur, err := b.InitiateMultipartUpload(key, oss.Meta("backup-id", "42"), oss.ServerSideEncryption("KMS"), oss.ServerSideEncryptionKeyID("key-1"))
	if err != nil {
		t.Fatal(err)
	}
	parts := [][]byte{randomBytes(200<<10, 1), randomBytes(150<<10, 2), randomBytes(1234, 3)}
	var uploaded []oss.UploadPart
	// Upload out of order, and part 2 twice (the second replaces the first).
	for _, i := range []int{2, 0, 1, 1} {
		p, err := b.UploadPart(imur, bytes.NewReader(parts[i]), int64(len(parts[i])), i+1)
		if err != nil { // the SDK checks the part's x-oss-hash-crc64ecma here
			t.Fatalf("upload part %d: %v", i+1, err)
		}
		if i != 1 || len(uploaded) < 3 {
			uploaded = append(uploaded, p)
		}
	}
	lp, err := b.ListUploadedParts(imur)
	if err != nil {
		t.Fatal(err)
	}
	if len(lp.UploadedParts) != 3 || lp.UploadedParts[0].PartNumber != 1 || lp.UploadedParts[1].Size != len(parts[1]) {
		t.Fatalf("ListParts: %+v", lp.UploadedParts)
	}
	lp1, err := b.ListUploadedParts(imur, oss.MaxParts(1), oss.PartNumberMarker(1))
	if err != nil || len(lp1.UploadedParts) != 1 || lp1.UploadedParts[0].PartNumber != 2 || !lp1.IsTruncated {
		t.Fatalf("ListParts paging: %+v %v", lp1, err)
	}
	lu, err := b.ListMultipartUploads(oss.Prefix("rds/"))
	if err != nil || len(lu.Uploads) != 1 || lu.Uploads[0].Key != key || lu.Uploads[0].UploadID != imur.UploadID {
		t.Fatalf("ListMultipartUploads: %+v %v", lu, err)
	}
	if lu.Uploads[0].Initiated.IsZero() {
		t.Fatal("upload without an Initiated time")
	}
	// A wrong ETag is refused; nothing is created.
	bad := []oss.UploadPart{{PartNumber: 1, ETag: `"00"`}, uploaded[2], uploaded[0]}
	if _, err := b.CompleteMultipartUpload(imur, bad); err == nil {
		t.Fatal("complete with a wrong ETag succeeded")
	} else {
		wantServiceError(t, err, 400, "InvalidPart")
	}
	if ok, _ := b.IsObjectExist(key); ok {
		t.Fatal("a refused complete created the object")
	}
	var resp http.Header
	res, err := b.CompleteMultipartUpload(imur, uploaded, oss.GetResponseHeader(&resp))
	if err != nil {
		t.Fatal(err)
	}
	whole := bytes.Join(parts, nil)
	wantCRC := crc64.Checksum(whole, crc64.MakeTable(crc64.ECMA))
	if got := resp.Get("x-oss-hash-crc64ecma"); got != strconv.FormatUint(wantCRC, 10) {
		t.Fatalf("complete CRC %s, want %d", got, wantCRC)
	}
	if res.ETag == "" || res.ETag[len(res.ETag)-3:] != "-3\"" {
		t.Fatalf("multipart ETag %q must end in -3", res.ETag)
	}
	meta, err := b.GetObjectDetailedMeta(key)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Get("x-oss-object-type") != "Multipart" || meta.Get("X-Oss-Meta-Backup-Id") != "42" ||
		meta.Get("x-oss-server-side-encryption") != "KMS" || meta.Get("x-oss-server-side-encryption-key-id") != "key-1" ||
		meta.Get("Content-Length") != strconv.Itoa(len(whole)) || meta.Get("x-oss-hash-crc64ecma") != strconv.FormatUint(wantCRC, 10) {
		t.Fatalf("object headers: %v", meta)
	}
	// The SDK verifies the whole-object CRC on a full GET.
	rc, err := b.GetObject(key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, whole) {
		t.Fatalf("GetObject: %d bytes, err %v", len(got), err)
	}
	// A range across the part boundary.
	rc, err = b.GetObject(key, oss.Range(200<<10-10, 200<<10+9))
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, whole[200<<10-10:200<<10+10]) {
		t.Fatal("range across parts differs")
	}
	// The upload is gone once completed.
	if _, err := b.ListUploadedParts(imur); err == nil {
		t.Fatal("ListParts of a completed upload succeeded")
	} else {
		wantServiceError(t, err, 404, "NoSuchUpload")
	}
}

func TestMultipartSmallPartAbortAndSpool(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.bucket(t, "mp-bucket2")
	imur, err := b.InitiateMultipartUpload("k")
	if err != nil {
		t.Fatal(err)
	}
	p1, err := b.UploadPart(imur, bytes.NewReader([]byte("tiny")), 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := b.UploadPart(imur, bytes.NewReader([]byte("end")), 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.CompleteMultipartUpload(imur, []oss.UploadPart{p1, p2}); err == nil {
		t.Fatal("a part under 100 KiB that is not the last was accepted")
	} else {
		wantServiceError(t, err, 400, "EntityTooSmall")
	}
	f.env.Clock.Advance(25 * time.Hour)
	if ups := f.svc.Uploads("mp-bucket2"); len(ups) != 1 || ups[0].Parts != 2 || ups[0].Bytes != 7 {
		t.Fatalf("uploads: %+v", ups)
	}
	dir, _ := f.svc.spool()
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("want 2 spooled part files, got %d", len(entries))
	}
	if err := b.AbortMultipartUpload(imur); err != nil {
		t.Fatal(err)
	}
	entries, _ = os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("abort left %d part files", len(entries))
	}
	if err := b.AbortMultipartUpload(imur); err == nil {
		t.Fatal("a second abort succeeded")
	} else {
		wantServiceError(t, err, 404, "NoSuchUpload")
	}
	if err := f.svc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("Close left the spool directory: %v", err)
	}
}
