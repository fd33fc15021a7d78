package ecsx

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// connCounter counts the connections a test server accepts and how many are open.
type connCounter struct {
	mu           sync.Mutex
	opened, open int
}

func (c *connCounter) hook(_ net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch s {
	case http.StateNew:
		c.opened++
		c.open++
	case http.StateClosed, http.StateHijacked:
		c.open--
	}
}

func (c *connCounter) get() (opened, open int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opened, c.open
}

// Rounds of more concurrent calls than the client pool holds, each round through a new
// adapter (as every invocation builds its own): the connections are reused, not piled up.
// With a transport per SDK client, every client the pool let go kept its keep-alive
// connection open for the life of the process.
func TestSDKConnectionsAreSharedAndBounded(t *testing.T) {
	const (
		rounds  = 6
		workers = 3 * poolSize
	)
	f := &fakeECS{t: t, handler: func(_ url.Values) (int, any) {
		time.Sleep(20 * time.Millisecond) // every worker in flight at once
		return 200, `{"RequestId":"r","TotalCount":0,"PageNumber":1,"PageSize":100,"Images":{"Image":[]}}`
	}}
	srv := httptest.NewUnstartedServer(f)
	var cc connCounter
	srv.Config.ConnState = cc.hook
	srv.Start()
	t.Cleanup(srv.Close)
	for range rounds {
		api, err := NewSDK(SDKConfig{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Scheme: "HTTP",
			Credentials: func() (string, string, string) { return testAK, testSecret, testToken }, Timeout: 7 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				if _, err := api.DescribeImages(context.Background(), "cn-hangzhou", ImageQuery{}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	opened, open := cc.get()
	t.Logf("%d rounds of %d concurrent calls: %d connections opened, %d open", rounds, workers, opened, open)
	// One round's worth, with slack for a connection the server closed between rounds.
	if opened > 2*workers {
		t.Errorf("%d connections opened for %d rounds of %d concurrent calls: connections are not reused", opened, rounds, workers)
	}
	if open > maxIdlePerHost {
		t.Errorf("%d connections open after the calls, more than the %d idle ones the transport keeps", open, maxIdlePerHost)
	}
}
