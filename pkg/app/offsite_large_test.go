//go:build large

package app_test

import (
	"os"
	"strconv"
	"testing"
)

// TestOffsiteMultiGBBoundedMemory (make offsite-large; go test -tags large): a backup of
// several GB (4 GiB, OFFSITE_LARGE_GIB overrides) is copied through the handler with the
// Go heap bounded: parts stream from the download into UploadPart, so the heap holds a few
// buffers whatever the file size. The bound (64 MiB) covers the copier and the local cloud
// in this process, with 16 MiB parts.
func TestOffsiteMultiGBBoundedMemory(t *testing.T) {
	gib := int64(4)
	if v, err := strconv.ParseInt(os.Getenv("OFFSITE_LARGE_GIB"), 10, 64); err == nil && v > 0 {
		gib = v
	}
	f := bigCopy(t, gib<<30)
	t.Logf("%d GiB copied in %s: peak heap %d MiB, peak RSS %d MiB", gib, f.wall, f.peakHeap>>20, f.vmHWM>>20)
	if f.peakHeap > 64<<20 {
		t.Fatalf("peak heap %d MiB while copying %d GiB: memory grows with the file", f.peakHeap>>20, gib)
	}
	if f.sentBytes != gib<<30 {
		t.Fatalf("sent %d bytes, want %d", f.sentBytes, gib<<30)
	}
}
