package rds

import (
	"encoding/binary"
	"errors"
	"hash/crc64"
	"io"
	"math/rand/v2"
	"sync"

	"github.com/aliyun/aliyun-oss-go-sdk/oss"
)

// Backup files are never stored: their bytes are a pure function of (seed, size),
// generated on the fly for any range, so a 100 GB backup costs nothing to keep.
//
// A file is a sequence of 64 KiB blocks; block i holds one of 16 pseudo-random block
// patterns of the file, picked by a hash of (seed, i), the last block cut short. The bytes
// look like compressed backup data (incompressible), no two positions of a file are
// predictable from each other without the seed, and the whole file's CRC-64 is computed
// from the 16 patterns' CRCs with CRC-64 combination (zlib's crc32_combine for CRC-64/ECMA)
// in O(blocks) 64-bit operations, instead of reading gigabytes.
const (
	blockSize = 64 << 10
	patterns  = 16
)

var crcTable = crc64.MakeTable(crc64.ECMA)

// Content is the deterministic body of one backup or log file.
type Content struct {
	Seed uint64
	Size int64
}

func mix(x uint64) uint64 { // splitmix64 finaliser
	x += 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

func (c Content) pattern(block int64) uint64 { return mix(c.Seed^mix(uint64(block))) % patterns }

// fill writes pattern p of the file (blockSize bytes) into buf.
func (c Content) fill(p uint64, buf []byte) {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], c.Seed)
	binary.LittleEndian.PutUint64(key[8:], p)
	binary.LittleEndian.PutUint64(key[16:], 0x7264732d6261636b) // "rds-back"
	g := rand.NewChaCha8(key)
	_, _ = g.Read(buf[:blockSize])
}

// shiftOp is the GF(2) operator that appends blockSize zero bytes to a CRC-64: column i
// is the image of bit i. CRC(A‖B) = shift(CRC(A)) ⊕ CRC(B) for a block B of blockSize.
var shiftOp = sync.OnceValue(func() [64]uint64 {
	var m [64]uint64
	for i := range m {
		m[i] = oss.CRC64Combine(1<<i, 0, blockSize)
	}
	return m
})

func shift(m *[64]uint64, crc uint64) uint64 {
	var out uint64
	for i := 0; crc != 0; i, crc = i+1, crc>>1 {
		if crc&1 != 0 {
			out ^= m[i]
		}
	}
	return out
}

// CRC64 is the CRC-64/ECMA (crc64.ECMA, as OSS's x-oss-hash-crc64ecma and RDS's Checksum)
// of the whole file.
func (c Content) CRC64() uint64 {
	buf := make([]byte, blockSize)
	var sums [patterns]uint64
	for p := range uint64(patterns) {
		c.fill(p, buf)
		sums[p] = crc64.Checksum(buf, crcTable)
	}
	m := shiftOp()
	full := c.Size / blockSize
	var crc uint64
	for i := range full {
		crc = shift(&m, crc) ^ sums[c.pattern(i)]
	}
	if rest := c.Size % blockSize; rest > 0 {
		c.fill(c.pattern(full), buf)
		crc = oss.CRC64Combine(crc, crc64.Checksum(buf[:rest], crcTable), uint64(rest))
	}
	return crc
}

// Reader reads the file from any offset (io.ReadSeeker, for http.ServeContent).
type Reader struct {
	c     Content
	off   int64
	block int64 // block held in buf, -1 for none
	buf   []byte
	// corruptEvery, when > 0, flips one byte in every corruptEvery bytes of the file.
	corruptEvery int64
}

// NewReader returns a reader at offset 0.
func (c Content) NewReader() *Reader {
	return &Reader{c: c, block: -1, buf: make([]byte, blockSize)}
}

func (r *Reader) Read(p []byte) (int, error) {
	if r.off >= r.c.Size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && r.off < r.c.Size {
		b := r.off / blockSize
		if b != r.block {
			r.c.fill(r.c.pattern(b), r.buf)
			r.block = b
		}
		in := r.off % blockSize
		end := int64(blockSize)
		if last := r.c.Size - b*blockSize; last < end {
			end = last
		}
		k := copy(p[n:], r.buf[in:end])
		if r.corruptEvery > 0 {
			for i := range k {
				if (r.off+int64(i))%r.corruptEvery == r.corruptEvery/2 {
					p[n+i] ^= 0x5a
				}
			}
		}
		n += k
		r.off += int64(k)
	}
	return n, nil
}

// Seek implements io.Seeker.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.c.Size
	default:
		return 0, errors.New("rds content: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("rds content: negative offset")
	}
	r.off = offset
	return offset, nil
}
