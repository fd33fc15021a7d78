package sls_test

import (
	"bytes"
	"compress/zlib"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-log-go-sdk"
	"github.com/gogo/protobuf/proto"
	"github.com/pierrec/lz4/v4"

	localsls "github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
)

func TestPutLogsCompression(t *testing.T) {
	t.Parallel()
	hash := "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name string
		put  func(c sdk.ClientInterface, ls string, lg *sdk.LogGroup) error
	}{
		{"lz4 default", func(c sdk.ClientInterface, ls string, lg *sdk.LogGroup) error { return c.PutLogs(project, ls, lg) }},
		{"zstd", func(c sdk.ClientInterface, ls string, lg *sdk.LogGroup) error {
			return c.PutLogsWithCompressType(project, ls, lg, sdk.Compress_ZSTD)
		}},
		{"none", func(c sdk.ClientInterface, ls string, lg *sdk.LogGroup) error {
			return c.PutLogsWithCompressType(project, ls, lg, sdk.Compress_None)
		}},
		{"hash route lz4", func(c sdk.ClientInterface, ls string, lg *sdk.LogGroup) error {
			return c.PostLogStoreLogsV2(project, ls, &sdk.PostLogStoreLogsRequest{LogGroup: lg, HashKey: &hash, CompressType: sdk.Compress_LZ4})
		}},
		{"hash route zstd", func(c sdk.ClientInterface, ls string, lg *sdk.LogGroup) error {
			return c.PostLogStoreLogsV2(project, ls, &sdk.PostLogStoreLogsRequest{LogGroup: lg, HashKey: &hash, CompressType: sdk.Compress_ZSTD})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.mustLogstore(t, "events")
			lg := logGroup("topic-a", "10.0.0.1",
				[]string{"function", "create-image", "msg", "héllo wörld"},
				[]string{"function", "copy-image", "long", strings.Repeat("x", 5000)},
			)
			lg.LogTags = []*sdk.LogTag{{Key: proto.String("host"), Value: proto.String("fc-1")}}
			lg.Logs[1].TimeNs = proto.Uint32(250)
			if err := tt.put(f.client(), "events", lg); err != nil {
				t.Fatalf("put: %v", err)
			}
			got := f.svc.Logs(project, "events")
			want := []localsls.Record{
				{Time: t0, Topic: "topic-a", Source: "10.0.0.1", Tags: map[string]string{"host": "fc-1"},
					Contents: map[string]string{"function": "create-image", "msg": "héllo wörld"}},
				{Time: t0.Add(time.Second + 250), Topic: "topic-a", Source: "10.0.0.1", Tags: map[string]string{"host": "fc-1"},
					Contents: map[string]string{"function": "copy-image", "long": strings.Repeat("x", 5000)}},
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("stored records:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestPutLogsRawBodies(t *testing.T) {
	t.Parallel()
	lg := logGroup("", "", []string{"k", "v"})
	var pb []byte
	{
		b, err := proto.Marshal(lg)
		if err != nil {
			t.Fatal(err)
		}
		pb = b
	}
	deflated := func() []byte {
		var buf bytes.Buffer
		zw := zlib.NewWriter(&buf)
		_, _ = zw.Write(pb)
		_ = zw.Close()
		return buf.Bytes()
	}()
	lz4Block := func(src []byte) []byte {
		out := make([]byte, lz4.CompressBlockBound(len(src)))
		n, err := lz4.CompressBlock(src, out, nil)
		if err != nil || n == 0 {
			t.Fatalf("lz4 compress: n=%d err=%v", n, err)
		}
		return out[:n]
	}
	rawsize := strconv.Itoa(len(pb))
	tests := []struct {
		name     string
		proj     string
		uri      string
		headers  map[string]string
		body     []byte
		status   int
		code     string
		wantLogs int
	}{
		{name: "deflate", uri: "/logstores/raw", headers: map[string]string{"x-log-compresstype": "deflate", "x-log-bodyrawsize": rawsize}, body: deflated, status: 200, wantLogs: 1},
		{name: "shards lb path", uri: "/logstores/raw/shards/lb", headers: map[string]string{"x-log-bodyrawsize": rawsize}, body: pb, status: 200, wantLogs: 1},
		{name: "unknown compress type", uri: "/logstores/raw", headers: map[string]string{"x-log-compresstype": "snappy", "x-log-bodyrawsize": rawsize}, body: pb, status: 400, code: "InvalidCompressType"},
		{name: "missing raw size", uri: "/logstores/raw", body: pb, status: 400, code: "MissingBodyRawSize"},
		{name: "raw size not a number", uri: "/logstores/raw", headers: map[string]string{"x-log-bodyrawsize": "ten"}, body: pb, status: 400, code: "InvalidBodyRawSize"},
		{name: "raw size over 10 MB", uri: "/logstores/raw", headers: map[string]string{"x-log-compresstype": "lz4", "x-log-bodyrawsize": strconv.Itoa(10<<20 + 1)}, body: lz4Block(pb), status: 400, code: "PostBodyTooLarge"},
		{name: "not protobuf", uri: "/logstores/raw", headers: map[string]string{"x-log-bodyrawsize": "7"}, body: []byte("garbage"), status: 400, code: "PostBodyInvalid"},
		{name: "lz4 garbage", uri: "/logstores/raw", headers: map[string]string{"x-log-compresstype": "lz4", "x-log-bodyrawsize": "100"}, body: []byte{0xff, 0xff, 0xff}, status: 400, code: "PostBodyUncompressError"},
		{name: "lz4 wrong raw size", uri: "/logstores/raw", headers: map[string]string{"x-log-compresstype": "lz4", "x-log-bodyrawsize": strconv.Itoa(len(pb) + 5)}, body: lz4Block(pb), status: 400, code: "PostBodyUncompressError"},
		{name: "zstd garbage", uri: "/logstores/raw", headers: map[string]string{"x-log-compresstype": "zstd", "x-log-bodyrawsize": "100"}, body: []byte("not zstd"), status: 400, code: "PostBodyUncompressError"},
		{name: "missing logstore", uri: "/logstores/nope", headers: map[string]string{"x-log-bodyrawsize": rawsize}, body: pb, status: 404, code: "LogStoreNotExist"},
		{name: "missing project", proj: "nope", uri: "/logstores/raw", headers: map[string]string{"x-log-bodyrawsize": rawsize}, body: pb, status: 404, code: "ProjectNotExist"},
		{name: "empty content key", uri: "/logstores/raw", headers: map[string]string{"x-log-bodyrawsize": strconv.Itoa(len(rawGroup(t, logGroup("", "", []string{"", "v"}))))}, body: rawGroup(t, logGroup("", "", []string{"", "v"})), status: 400, code: "InvalidKey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.mustLogstore(t, "raw")
			status, body, hdr := f.rawDo(t, tt.proj, "POST", tt.uri, tt.headers, tt.body)
			if status != tt.status {
				t.Fatalf("status %d (%s), want %d", status, body, tt.status)
			}
			if tt.code != "" && !strings.Contains(body, `"errorCode":"`+tt.code+`"`) {
				t.Fatalf("body %s, want errorCode %s", body, tt.code)
			}
			if hdr.Get("x-log-requestid") == "" {
				t.Fatal("no x-log-requestid")
			}
			if n := len(f.svc.Logs(project, "raw")); n != tt.wantLogs {
				t.Fatalf("stored %d logs, want %d", n, tt.wantLogs)
			}
		})
	}
}

func TestPutLogsLimitsThroughSDK(t *testing.T) {
	t.Parallel()
	many := make([][]string, 4097)
	for i := range many {
		many[i] = []string{"i", strconv.Itoa(i)}
	}
	big := strings.Repeat("a", 10<<20+1)
	tests := []struct {
		name string
		put  func(c sdk.ClientInterface) error
		code string
	}{
		{"4097 logs", func(c sdk.ClientInterface) error { return c.PutLogs(project, "lim", logGroup("", "", many...)) }, "PostBodyTooLarge"},
		{"raw over 10 MB, lz4", func(c sdk.ClientInterface) error {
			return c.PutLogs(project, "lim", logGroup("", "", []string{"big", big}))
		}, "PostBodyTooLarge"},
		{"body over 10 MB, uncompressed", func(c sdk.ClientInterface) error {
			return c.PutLogsWithCompressType(project, "lim", logGroup("", "", []string{"big", big}), sdk.Compress_None)
		}, "PostBodyTooLarge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.mustLogstore(t, "lim")
			wantCode(t, tt.put(f.client()), 400, tt.code)
			if n := len(f.svc.Logs(project, "lim")); n != 0 {
				t.Fatalf("stored %d logs after a refused put", n)
			}
		})
	}
	t.Run("4096 logs fit", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.mustLogstore(t, "lim")
		if err := f.client().PutLogs(project, "lim", logGroup("", "", many[:4096]...)); err != nil {
			t.Fatalf("put 4096: %v", err)
		}
		if n := len(f.svc.Logs(project, "lim")); n != 4096 {
			t.Fatalf("stored %d, want 4096", n)
		}
	})
	t.Run("configurable", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.svc.SetLimits(localsls.Limits{MaxLogsPerGroup: 40960})
		f.mustLogstore(t, "lim")
		if err := f.client().PutLogs(project, "lim", logGroup("", "", many...)); err != nil {
			t.Fatalf("put 4097 with a 40960 limit: %v", err)
		}
	})
}
