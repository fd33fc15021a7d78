package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestRunPrintsEndpointAndKeysAndServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuf{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, out, "127.0.0.1:0", "", 60, "2026-11-01T00:00:00Z", false, "", slog.New(slog.DiscardHandler))
	}()
	var addr string
	re := regexp.MustCompile(`ECS endpoint: (127\.0\.0\.1:\d+)`)
	for i := 0; i < 200 && addr == ""; i++ {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	if addr == "" {
		cancel()
		t.Fatalf("no ECS endpoint line in output:\n%s", out.String())
	}
	for _, want := range []string{"AccessKeyId: LTAI5tLocalCloudTestKey\n", "AccessKeySecret: ", "AccountId: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	resp, err := http.Get("http://" + addr + "/_localcloud/health")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"ok": true`) {
		t.Fatalf("health: %d %s", resp.StatusCode, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestRunRefusesBadSeedAndStart(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "seed.json")
	if err := os.WriteFile(bad, []byte(`{"regions":[{"id":"cn-hangzhou"}],"instances":[{"id":"i-1","region":"nowhere","disks":[]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if err := run(context.Background(), io.Discard, "127.0.0.1:0", bad, 1, "", false, "", log); err == nil || !strings.Contains(err.Error(), "-seed") {
		t.Errorf("bad seed: %v", err)
	}
	if err := run(context.Background(), io.Discard, "127.0.0.1:0", "", 1, "yesterday", false, "", log); err == nil || !strings.Contains(err.Error(), "-start") {
		t.Errorf("bad start: %v", err)
	}
}
