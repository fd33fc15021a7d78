package sls

import (
	"bytes"
	"compress/zlib"
	"io"
	"net/http"
	"strconv"
	"time"

	sdk "github.com/aliyun/aliyun-log-go-sdk"
	"github.com/gogo/protobuf/proto"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// putLogs serves PutLogs: POST /logstores/{ls}, /logstores/{ls}/shards/lb and
// /logstores/{ls}/shards/route?key=. The body is a protobuf LogGroup, compressed as
// x-log-compresstype says (absent: none); x-log-bodyrawsize is its uncompressed length.
// The hash key is accepted and ignored: there is one store per logstore, not per shard.
func (s *Service) putLogs(w http.ResponseWriter, r *http.Request, c *call) {
	name := c.parts[0]
	s.mu.RLock()
	limits := s.limits
	_, e := s.logstoreLocked(c, name)
	s.mu.RUnlock()
	if e != nil {
		replyErr(w, e)
		return
	}
	rawStr := r.Header.Get("x-log-bodyrawsize")
	if rawStr == "" {
		replyErr(w, errf(400, "MissingBodyRawSize", "the x-log-bodyrawsize header is required"))
		return
	}
	raw, err := strconv.Atoi(rawStr)
	if err != nil || raw < 0 {
		replyErr(w, errf(400, "InvalidBodyRawSize", "x-log-bodyrawsize %q is not a non-negative integer", rawStr))
		return
	}
	if raw > limits.MaxRawBytes {
		replyErr(w, errf(400, "PostBodyTooLarge", "raw body size %d is larger than %d bytes", raw, limits.MaxRawBytes))
		return
	}
	data, e := decompress(r.Header.Get("x-log-compresstype"), c.body, raw)
	if e != nil {
		replyErr(w, e)
		return
	}
	var lg sdk.LogGroup
	if err := proto.Unmarshal(data, &lg); err != nil {
		replyErr(w, errf(400, "PostBodyInvalid", "body is not a protobuf LogGroup: %v", err))
		return
	}
	if len(lg.Logs) > limits.MaxLogsPerGroup {
		replyErr(w, errf(400, "PostBodyTooLarge", "log group holds %d logs, more than the %d allowed", len(lg.Logs), limits.MaxLogsPerGroup))
		return
	}
	var tags map[string]string
	if len(lg.LogTags) > 0 {
		tags = make(map[string]string, len(lg.LogTags))
		for _, t := range lg.LogTags {
			tags[t.GetKey()] = t.GetValue()
		}
	}
	recs := make([]Record, 0, len(lg.Logs))
	for i, l := range lg.Logs {
		rec := Record{
			Time:     time.Unix(int64(l.GetTime()), int64(l.GetTimeNs())).UTC(),
			Topic:    lg.GetTopic(),
			Source:   lg.GetSource(),
			Tags:     tags,
			Contents: make(map[string]string, len(l.Contents)),
		}
		for _, kv := range l.Contents {
			if kv.GetKey() == "" {
				replyErr(w, errf(400, "InvalidKey", "log %d has a content with an empty key", i))
				return
			}
			rec.Contents[kv.GetKey()] = kv.GetValue()
		}
		recs = append(recs, rec)
	}
	s.mu.Lock()
	ls, e := s.logstoreLocked(c, name)
	if e == nil {
		ls.records = append(ls.records, recs...)
	}
	s.mu.Unlock()
	if e != nil {
		replyErr(w, e)
		return
	}
	reply(w, 200, nil)
}

// decompress undoes x-log-compresstype. lz4 is a raw lz4 block (not a frame), which is
// why the raw size travels in a header; deflate is zlib-wrapped, as the other SDKs send it.
func decompress(kind string, body []byte, raw int) ([]byte, *apiError) {
	bad := func(err error) ([]byte, *apiError) {
		return nil, errf(400, "PostBodyUncompressError", "%s body does not decompress to x-log-bodyrawsize %d bytes: %v", kind, raw, err)
	}
	switch kind {
	case "", "none":
		if len(body) != raw {
			return nil, errf(400, "InvalidBodyRawSize", "x-log-bodyrawsize %d does not match the uncompressed body of %d bytes", raw, len(body))
		}
		return body, nil
	case "lz4":
		out := make([]byte, raw)
		n, err := lz4.UncompressBlock(body, out)
		if err != nil {
			return bad(err)
		}
		if n != raw {
			return bad(errSize(n))
		}
		return out, nil
	case "zstd":
		dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(raw)+1))
		if err != nil {
			return bad(err)
		}
		defer dec.Close()
		out, err := dec.DecodeAll(body, make([]byte, 0, raw))
		if err != nil {
			return bad(err)
		}
		if len(out) != raw {
			return bad(errSize(len(out)))
		}
		return out, nil
	case "deflate":
		zr, err := zlib.NewReader(bytes.NewReader(body))
		if err != nil {
			return bad(err)
		}
		out, err := io.ReadAll(io.LimitReader(zr, int64(raw)+1))
		if err != nil {
			return bad(err)
		}
		if len(out) != raw {
			return bad(errSize(len(out)))
		}
		return out, nil
	}
	return nil, errf(400, "InvalidCompressType", "compress type %q is not lz4, zstd or deflate", kind)
}

type errSize int

func (e errSize) Error() string { return "got " + strconv.Itoa(int(e)) + " bytes" }
