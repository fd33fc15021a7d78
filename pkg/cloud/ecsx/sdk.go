package ecsx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/responses"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
)

// SDKConfig configures the SDK adapter.
type SDKConfig struct {
	// Endpoint overrides the ECS endpoint for every region ("host:port", or a URL whose
	// scheme then wins over Scheme). Empty uses the public regional endpoints. One endpoint
	// serving every region is how Apsara Stack and the local cloud work: the region travels
	// in the RegionId parameter.
	Endpoint string
	// Scheme is "HTTPS" (default) or "HTTP".
	Scheme string
	// Credentials is called before every request, so rotating STS credentials (the FC
	// context's role credentials) are always current. token may be empty.
	Credentials func() (ak, secret, token string)
	// Timeout bounds each HTTP request (connect and read); 0 keeps the SDK defaults
	// (5 s connect, 10 s read).
	Timeout time.Duration
	// Pace, if set, is called before every request, each page of a listing included, and
	// may wait (Limiter.Wait paces per region and action); its error ends the call.
	Pace func(ctx context.Context, region, action string) error
}

// pagesLimit stops a paging loop against a server that never reports the end: 1M items
// of 100 per page, ten times the images a 20,000-instance fleet keeps in a DR region.
const pagesLimit = 10000

var newClientMu sync.Mutex

type sdkAPI struct {
	cfg    SDKConfig
	scheme string
	host   string
	mu     sync.Mutex
	// pools hold idle clients per region. An SDK client is not safe for concurrent use
	// (every request rewrites its http.Client timeouts and transport), so each call checks
	// one out and returns it; concurrent calls get clients of their own.
	pools map[string]chan *ecs.Client
}

// poolSize bounds the idle clients kept per region (more may exist while busy).
const poolSize = 16

// NewSDK returns an API over the official ECS SDK with one client per region, created on
// first use. The SDK's AutoRetry stays off: retries belong to WithRetry alone. The SDK has
// no context support, so ctx is checked before each request (and each page) only.
func NewSDK(cfg SDKConfig) (API, error) {
	if cfg.Credentials == nil {
		return nil, errors.New("ecs: sdk config: credentials source is required")
	}
	a := &sdkAPI{cfg: cfg, scheme: strings.ToUpper(cfg.Scheme), host: cfg.Endpoint, pools: map[string]chan *ecs.Client{}}
	if strings.Contains(cfg.Endpoint, "://") {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("ecs: sdk config: endpoint %q is not host:port or a URL", cfg.Endpoint)
		}
		a.scheme, a.host = strings.ToUpper(u.Scheme), u.Host
	}
	switch a.scheme {
	case "":
		a.scheme = "HTTPS"
	case "HTTP", "HTTPS":
	default:
		return nil, fmt.Errorf("ecs: sdk config: scheme %q is not HTTP or HTTPS", cfg.Scheme)
	}
	return a, nil
}

// funcProvider adapts SDKConfig.Credentials to the SDK's CredentialsProvider, which the
// signer calls for every request.
type funcProvider func() (ak, secret, token string)

func (f funcProvider) GetCredentials() (*credentials.Credentials, error) {
	ak, secret, token := f()
	if ak == "" || secret == "" {
		return nil, errors.New("credentials source returned an empty access key")
	}
	return &credentials.Credentials{AccessKeyId: ak, AccessKeySecret: secret, SecurityToken: token, ProviderName: "ecsx_func"}, nil
}

func (f funcProvider) GetProviderName() string { return "ecsx_func" }

func (a *sdkAPI) pool(region string) chan *ecs.Client {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.pools[region]
	if !ok {
		p = make(chan *ecs.Client, poolSize)
		a.pools[region] = p
	}
	return p
}

// acquire returns an idle client of region, or a new one; release gives it back.
func (a *sdkAPI) acquire(region string) (*ecs.Client, func(), error) {
	if region == "" {
		return nil, nil, errors.New("region is required")
	}
	p := a.pool(region)
	release := func(c *ecs.Client) func() {
		return func() {
			select {
			case p <- c:
			default: // pool full: let it go
			}
		}
	}
	select {
	case c := <-p:
		return c, release(c), nil
	default:
	}
	cfg := sdk.NewConfig().WithScheme(a.scheme)
	cfg.AutoRetry = false
	// The SDK fills its global endpoint map lazily without a lock (services/ecs
	// GetEndpointMap): client construction must be serialised process-wide.
	newClientMu.Lock()
	c, err := ecs.NewClientWithOptions(region, cfg, funcProvider(a.cfg.Credentials))
	newClientMu.Unlock()
	if err != nil {
		return nil, nil, fmt.Errorf("new client for %s: %w", region, err)
	}
	if a.host != "" {
		c.Domain = a.host
		// The SDK applies HTTP(S)_PROXY unless NO_PROXY matches the host; an explicit
		// endpoint (local cloud, Apsara Stack) is always reached directly.
		c.SetNoProxy(regexp.QuoteMeta(hostOnly(a.host)))
	}
	if a.cfg.Timeout > 0 {
		c.SetConnectTimeout(a.cfg.Timeout)
		c.SetReadTimeout(a.cfg.Timeout)
	}
	// One connection pool for the process (transport.go), not one per client.
	c.SetTransport(sharedTransport(a.cfg.Timeout, a.host != ""))
	return c, release(c), nil
}

func hostOnly(hostport string) string {
	if i := strings.LastIndex(hostport, ":"); i > 0 && !strings.HasSuffix(hostport, "]") {
		return hostport[:i]
	}
	return hostport
}

// prepare checks ctx and checks a region client out; errors are wrapped by the caller.
// The caller must call release when its request is done.
func (a *sdkAPI) prepare(ctx context.Context, region string) (*ecs.Client, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	return a.acquire(region)
}

// preparePaced paces one request of op, then checks a region client out.
func (a *sdkAPI) preparePaced(ctx context.Context, region, op string) (*ecs.Client, func(), error) {
	if err := a.pace(ctx, region, op); err != nil {
		return nil, nil, err
	}
	return a.acquire(region)
}

// pace waits for the Pace hook (if any) before one request of op.
func (a *sdkAPI) pace(ctx context.Context, region, op string) error {
	if a.cfg.Pace == nil {
		return ctx.Err()
	}
	return a.cfg.Pace(ctx, region, op)
}

// sdkTags turns a tag map into the Tag.N list of one SDK request type, in key order so
// requests are deterministic; nil (no Tag.N parameters) for no tags. Every action has its
// own tag struct type with the same two fields, hence mk.
func sdkTags[T any](m map[string]string, mk func(key, value string) T) *[]T {
	if len(m) == 0 {
		return nil
	}
	out := make([]T, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, mk(k, m[k]))
	}
	return &out
}

const maxTags = 20

func checkTags(m map[string]string) error {
	if len(m) > maxTags {
		return fmt.Errorf("%d tags exceed the ECS limit of %d", len(m), maxTags)
	}
	return nil
}

// parseTime accepts the layouts ECS uses for CreationTime ("2006-01-02T15:04:05Z" and the
// minute-precision "2006-01-02T15:04Z" some actions return).
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("creation time %q: unknown layout", s)
}

func (a *sdkAPI) DescribeInstances(ctx context.Context, region string, q InstanceQuery) ([]Instance, error) {
	const op = "DescribeInstances"
	if err := checkTags(q.Tags); err != nil {
		return nil, &Error{Op: op, Region: region, Err: err}
	}
	c, release, err := a.prepare(ctx, region)
	if err != nil {
		return nil, &Error{Op: op, Region: region, Err: err}
	}
	defer release()
	// InstanceIds takes at most 100 ids; larger id lists are queried in chunks.
	chunks := [][]string{nil}
	if len(q.IDs) > 0 {
		chunks = chunks[:0]
		for ids := q.IDs; len(ids) > 0; {
			n := min(len(ids), 100)
			chunks = append(chunks, ids[:n])
			ids = ids[n:]
		}
	}
	var out []Instance
	for _, ids := range chunks {
		got, err := a.describeInstancesChunk(ctx, c, region, q, ids)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

func (a *sdkAPI) describeInstancesChunk(ctx context.Context, c *ecs.Client, region string, q InstanceQuery, ids []string) ([]Instance, error) {
	const op = "DescribeInstances"
	var out []Instance
	in := newInterner()
	var buf []slimInstance // one page's items, reused page after page
	for page := 1; page <= pagesLimit; page++ {
		if err := a.pace(ctx, region, op); err != nil {
			return nil, &Error{Op: op, Region: region, Err: err}
		}
		req := ecs.CreateDescribeInstancesRequest()
		req.RegionId = region
		req.PageNumber = requests.NewInteger(page)
		req.PageSize = requests.NewInteger(100)
		req.Status = q.Status
		req.ImageId = q.ImageID
		if len(ids) > 0 {
			b, _ := json.Marshal(ids) // InstanceIds is a JSON array in a string
			req.InstanceIds = string(b)
		}
		req.Tag = sdkTags(q.Tags, func(k, v string) ecs.DescribeInstancesTag { return ecs.DescribeInstancesTag{Key: k, Value: v} })
		resp := &describeInstancesResponse{BaseResponse: &responses.BaseResponse{}} // slim.go
		resp.Instances.Instance = reuse(buf)
		if err := c.DoAction(req, resp); err != nil {
			return nil, wrap(op, "", region, err)
		}
		buf = resp.Instances.Instance
		for i := range resp.Instances.Instance {
			out = append(out, resp.Instances.Instance[i].instance(region, in))
		}
		// TotalCount is the end marker; an empty page also ends the loop so a server that
		// miscounts cannot make it spin.
		if len(resp.Instances.Instance) == 0 || len(out) >= resp.TotalCount {
			return out, nil
		}
	}
	return nil, &Error{Op: op, Region: region, Err: fmt.Errorf("more than %d pages", pagesLimit)}
}

func (a *sdkAPI) DescribeImages(ctx context.Context, region string, q ImageQuery) ([]Image, error) {
	const op = "DescribeImages"
	if err := checkTags(q.Tags); err != nil {
		return nil, &Error{Op: op, Region: region, Err: err}
	}
	if len(q.IDs) > 100 {
		return nil, &Error{Op: op, Region: region, Err: fmt.Errorf("%d image ids exceed the limit of 100", len(q.IDs))}
	}
	c, release, err := a.prepare(ctx, region)
	if err != nil {
		return nil, &Error{Op: op, Region: region, Err: err}
	}
	defer release()
	var out []Image
	seen := 0
	in := newInterner()
	var buf []slimImage // one page's items, reused page after page
	for page := 1; page <= pagesLimit; page++ {
		if err := a.pace(ctx, region, op); err != nil {
			return nil, &Error{Op: op, Region: region, Err: err}
		}
		req := ecs.CreateDescribeImagesRequest()
		req.RegionId = region
		req.ImageOwnerAlias = "self"
		req.PageNumber = requests.NewInteger(page)
		req.PageSize = requests.NewInteger(100)
		req.ImageId = strings.Join(q.IDs, ",") // comma list, unlike DescribeInstances
		req.Status = strings.Join(q.Statuses, ",")
		req.ImageName = q.Name
		req.Tag = sdkTags(q.Tags, func(k, v string) ecs.DescribeImagesTag { return ecs.DescribeImagesTag{Key: k, Value: v} })
		resp := &describeImagesResponse{BaseResponse: &responses.BaseResponse{}} // slim.go
		resp.Images.Image = reuse(buf)
		if err := c.DoAction(req, resp); err != nil {
			return nil, wrap(op, strings.Join(q.IDs, ","), region, err)
		}
		buf = resp.Images.Image
		for i := range resp.Images.Image {
			img, err := resp.Images.Image[i].image(region, in)
			if err != nil {
				return nil, &Error{Op: op, Resource: resp.Images.Image[i].ImageId, Region: region, Err: err}
			}
			if q.Keep == nil || q.Keep(img) {
				out = append(out, img)
			}
		}
		seen += len(resp.Images.Image)
		if len(resp.Images.Image) == 0 || seen >= resp.TotalCount {
			return out, nil
		}
	}
	return nil, &Error{Op: op, Region: region, Err: fmt.Errorf("more than %d pages", pagesLimit)}
}

func (a *sdkAPI) CreateImage(ctx context.Context, region string, in CreateImageInput) (string, error) {
	const op = "CreateImage"
	if in.InstanceID == "" {
		return "", &Error{Op: op, Region: region, Err: errors.New("instance id is required")}
	}
	if err := checkTags(in.Tags); err != nil {
		return "", &Error{Op: op, Resource: in.InstanceID, Region: region, Err: err}
	}
	c, release, err := a.preparePaced(ctx, region, op)
	if err != nil {
		return "", &Error{Op: op, Resource: in.InstanceID, Region: region, Err: err}
	}
	defer release()
	req := ecs.CreateCreateImageRequest()
	req.RegionId = region
	req.InstanceId = in.InstanceID
	req.ImageName = in.Name
	req.Description = in.Description
	req.ClientToken = in.ClientToken
	req.Tag = sdkTags(in.Tags, func(k, v string) ecs.CreateImageTag { return ecs.CreateImageTag{Key: k, Value: v} })
	resp, err := c.CreateImage(req)
	if err != nil {
		return "", wrap(op, in.InstanceID, region, err)
	}
	if resp.ImageId == "" {
		return "", &Error{Op: op, Resource: in.InstanceID, Region: region, Err: errors.New("response has no ImageId")}
	}
	return resp.ImageId, nil
}

func (a *sdkAPI) CopyImage(ctx context.Context, region string, in CopyImageInput) (string, error) {
	const op = "CopyImage"
	res := in.ImageID + " to " + in.DestinationRegion
	if in.ImageID == "" || in.DestinationRegion == "" {
		return "", &Error{Op: op, Resource: res, Region: region, Err: errors.New("image id and destination region are required")}
	}
	if err := checkTags(in.Tags); err != nil {
		return "", &Error{Op: op, Resource: res, Region: region, Err: err}
	}
	c, release, err := a.preparePaced(ctx, region, op)
	if err != nil {
		return "", &Error{Op: op, Resource: res, Region: region, Err: err}
	}
	defer release()
	req := ecs.CreateCopyImageRequest()
	req.RegionId = region
	req.ImageId = in.ImageID
	req.DestinationRegionId = in.DestinationRegion
	req.DestinationImageName = in.Name
	req.DestinationDescription = in.Description
	if in.Encrypted {
		req.Encrypted = requests.NewBoolean(true)
		req.KMSKeyId = in.KMSKeyID
	}
	req.Tag = sdkTags(in.Tags, func(k, v string) ecs.CopyImageTag { return ecs.CopyImageTag{Key: k, Value: v} })
	resp, err := c.CopyImage(req)
	if err != nil {
		return "", wrap(op, res, region, err)
	}
	if resp.ImageId == "" {
		return "", &Error{Op: op, Resource: res, Region: region, Err: errors.New("response has no ImageId")}
	}
	return resp.ImageId, nil
}

func (a *sdkAPI) DeleteImage(ctx context.Context, region, imageID string, force bool) error {
	const op = "DeleteImage"
	c, release, err := a.preparePaced(ctx, region, op)
	if err != nil {
		return &Error{Op: op, Resource: imageID, Region: region, Err: err}
	}
	defer release()
	req := ecs.CreateDeleteImageRequest()
	req.RegionId = region
	req.ImageId = imageID
	if force {
		req.Force = requests.NewBoolean(true)
	}
	_, err = c.DeleteImage(req)
	return wrap(op, imageID, region, err)
}

func (a *sdkAPI) DeleteSnapshot(ctx context.Context, region, snapshotID string) error {
	const op = "DeleteSnapshot"
	c, release, err := a.preparePaced(ctx, region, op)
	if err != nil {
		return &Error{Op: op, Resource: snapshotID, Region: region, Err: err}
	}
	defer release()
	req := ecs.CreateDeleteSnapshotRequest()
	req.RegionId = region // not in the struct's docs, but the SDK sends the client region anyway
	req.SnapshotId = snapshotID
	_, err = c.DeleteSnapshot(req)
	return wrap(op, snapshotID, region, err)
}
