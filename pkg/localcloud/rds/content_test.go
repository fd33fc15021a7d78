package rds

import (
	"bytes"
	"hash/crc64"
	"io"
	"testing"
)

func TestContentCRCMatchesBytes(t *testing.T) {
	t.Parallel()
	for _, size := range []int64{0, 1, blockSize - 1, blockSize, 3*blockSize + 123, 40*blockSize + 7} {
		c := Content{Seed: 42 + uint64(size), Size: size}
		data, err := io.ReadAll(c.NewReader())
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(data)) != size {
			t.Fatalf("size %d: read %d bytes", size, len(data))
		}
		if got, want := c.CRC64(), crc64.Checksum(data, crcTable); got != want {
			t.Fatalf("size %d: CRC64() = %d, bytes give %d", size, got, want)
		}
	}
}

func TestContentDeterministicAndSeekable(t *testing.T) {
	t.Parallel()
	c := Content{Seed: 7, Size: 10*blockSize + 99}
	all, _ := io.ReadAll(c.NewReader())
	again, _ := io.ReadAll(c.NewReader())
	if !bytes.Equal(all, again) {
		t.Fatal("two reads of the same content differ")
	}
	other, _ := io.ReadAll(Content{Seed: 8, Size: c.Size}.NewReader())
	if bytes.Equal(all, other) {
		t.Fatal("different seeds give the same bytes")
	}
	r := c.NewReader()
	if _, err := r.Seek(3*blockSize-5, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	part := make([]byte, 20)
	if _, err := io.ReadFull(r, part); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(part, all[3*blockSize-5:3*blockSize+15]) {
		t.Fatal("a read after Seek does not match the same range of a full read")
	}
	// The corruption knob changes the bytes, so a checksum over them must fail.
	bad := c.NewReader()
	bad.corruptEvery = blockSize
	corrupted, _ := io.ReadAll(bad)
	if crc64.Checksum(corrupted, crcTable) == c.CRC64() {
		t.Fatal("a corrupted read still matches the CRC")
	}
}
