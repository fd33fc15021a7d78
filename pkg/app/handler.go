package app

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"

	"github.com/ecsdr/ecs-image-dr/pkg/backup"
	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/events"
	"github.com/ecsdr/ecs-image-dr/pkg/obs"
	"github.com/ecsdr/ecs-image-dr/pkg/offsite"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/redact"
	"github.com/ecsdr/ecs-image-dr/pkg/restore"
)

// Credentials are the invocation's role credentials (STS).
type Credentials struct {
	AccessKeyID, AccessKeySecret, SecurityToken string
}

// Invocation is what a handler knows about the current call, from the FC context.
type Invocation struct {
	RequestID string
	Region    string
	AccountID string
	Creds     Credentials
}

// Result is what a function returns to FC (and what the local cloud records).
type Result struct {
	Function string `json:"function"`
	Kind     string `json:"kind"` // timer | image-events | malformed | rejected
	// Note explains an acknowledged event that changed nothing (malformed, unknown shape).
	Note    string                 `json:"note,omitempty"`
	Create  *backup.CreateSummary  `json:"create,omitempty"`
	Copy    *backup.CopySummary    `json:"copy,omitempty"`
	Cleanup *backup.CleanupSummary `json:"cleanup,omitempty"`
	Offsite *offsite.Summary       `json:"offsite,omitempty"`
	// Remaining: work not started before the soft deadline, by kind (the next run does it).
	Remaining map[string]int `json:"remaining,omitempty"`
	// Shard is the instance shard this run covered ("k/N"; empty: the whole fleet).
	Shard string `json:"shard,omitempty"`
	// Mode is copy-image's timer mode (deep or pending).
	Mode   string               `json:"mode,omitempty"`
	Policy string               `json:"policy,omitempty"`
	DryRun bool                 `json:"dryRun,omitempty"`
	Drill  *restore.StepSummary `json:"drill,omitempty"`
	RPO    *RPOSummary          `json:"rpo,omitempty"`
}

// Handler serves one function. Configuration is read once (cold start); clients are built
// per invocation from that invocation's credentials, which FC rotates.
type Handler struct {
	fn     Function
	cfg    Config
	cfgErr error
	stdout io.Writer
	getenv func(string) string
	opts   Options // clock and SDK retry bounds (clock.go)
	// clock is the clock of the environment (wall, or simulated on the local cloud:
	// simclock.go), what Options.Clock nil means.
	clock Clock
	// prof writes CPU profiles on the local cloud (DR_CPU_PROFILE_DIR, profile.go); nil: off.
	prof *cpuProfiler
	// warm is what the instance keeps between invocations: clients per credentials and an
	// inline policy's parse (warm.go).
	warm warm
}

// New returns the handler of fn. A broken configuration does not stop the process: every
// invocation then fails with the full list of problems (and logs it), so the error is
// visible in FC's records instead of a crash loop.
func New(fn Function, getenv func(string) string, stdout io.Writer) *Handler {
	cfg, err := ConfigFromEnv(getenv)
	clock, clockErr := clockFromEnv(getenv, stdout, fn)
	return &Handler{fn: fn, cfg: cfg, cfgErr: errors.Join(err, clockErr), stdout: stdout, getenv: getenv,
		opts: Options{Clock: clock}, clock: clock, prof: profilerFromEnv(getenv, stdout, fn)}
}

// Handle is the FC handler: func(ctx, []byte) (*Result, error). The raw payload is parsed
// here so a malformed event is acknowledged with a record instead of a JSON decode error.
func (h *Handler) Handle(ctx context.Context, payload []byte) (*Result, error) {
	inv := h.invocation(ctx)
	secrets := redact.NewSecrets(inv.Creds.AccessKeyID, inv.Creds.AccessKeySecret, inv.Creds.SecurityToken)
	res, err := h.handleLogged(ctx, inv, payload)
	h.prof.invocationDone()
	// The result and the error go to FC (and to whoever reads the invocation's record):
	// the last line of defence after the adapters' and the logger's redaction.
	return scrubResult(res, secrets), secrets.Error(err)
}

// scrubResult removes credential values and credential-shaped content from every string
// of res, through its JSON form.
func scrubResult(res *Result, secrets *redact.Secrets) *Result {
	if res == nil {
		return nil
	}
	b, err := json.Marshal(res)
	if err != nil {
		return res
	}
	clean := secrets.JSON(b)
	if string(clean) == string(b) {
		return res
	}
	out := &Result{}
	if err := json.Unmarshal(clean, out); err != nil {
		return &Result{Function: res.Function, Kind: res.Kind, Note: "result withheld: it could not be redacted"}
	}
	return out
}

func (h *Handler) handleLogged(ctx context.Context, inv Invocation, payload []byte) (*Result, error) {
	log, sink, logErr := obs.New(h.stdout, h.cfg.LogLevel, obs.SLSConfig{
		Endpoint: h.cfg.SLSEndpointFor(inv.Region), Project: h.cfg.SLSProject, Logstore: h.cfg.SLSLogstore,
		Topic: string(h.fn), Source: inv.RequestID,
		AccessKeyID: inv.Creds.AccessKeyID, AccessKeySecret: inv.Creds.AccessKeySecret, SecurityToken: inv.Creds.SecurityToken,
		RetryTimeout: h.opts.SLSRetryTimeout,
	})
	log = log.With(obs.KeyFunction, string(h.fn), obs.KeyRequestID, inv.RequestID)
	if logErr != nil {
		// Logging to SLS is not worth a failed backup: stdout still has everything.
		log.Warn("sls logging disabled", "error", logErr)
	}
	defer flush(ctx, sink)
	// The first record, before any cloud call: an invocation killed at any later line
	// still leaves this one on stdout (FC's log).
	log.Info("invocation started", obs.KeyResult, "started", "payload_bytes", len(payload))
	// Records go to SLS while the run works (every few seconds, or per 1,000), so a run
	// killed at its timeout loses almost nothing; stop before the final flush above.
	defer sink.Stream(ctx, 0, 0)()

	start := time.Now()
	refreshClock(h.opts.Clock, log)
	ctx = withSoftDeadline(ctx, h.opts.Clock)
	res, err := h.handle(ctx, inv, payload, log)
	res, err = finishRemaining(ctx, res, err, log)
	bound(res)
	attrs := []any{obs.KeyDuration, time.Since(start).Milliseconds()}
	if res != nil && res.Policy != "" {
		// The summary record is the one queried by policy ("which runs of policy X failed");
		// this logger predates loading the policy, so add it here.
		attrs = append(attrs, obs.KeyPolicy, res.Policy)
	}
	if err != nil {
		log.Error("invocation failed", append(attrs, obs.KeyResult, backup.ResultFailed, "error", err)...)
		return res, err
	}
	log.Info("invocation done", append(attrs, obs.KeyResult, backup.ResultOK, "kind", res.Kind)...)
	return res, nil
}

// flush sends the buffered records before FC freezes the instance, bounded by the
// invocation's deadline. A failure is already reported on stdout by the sink (obs.New
// never returns a nil Sink, and a Sink without SLS does nothing).
func flush(ctx context.Context, sink *obs.Sink) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushBudget(ctx))
	defer cancel()
	_ = sink.Flush(fctx)
}

func flushBudget(ctx context.Context) time.Duration {
	budget := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl) - 500*time.Millisecond; left < budget {
			budget = max(left, 200*time.Millisecond)
		}
	}
	return budget
}

func (h *Handler) invocation(ctx context.Context) Invocation {
	inv := Invocation{
		Region:    h.getenv("FC_REGION"),
		AccountID: h.getenv("FC_ACCOUNT_ID"),
		Creds: Credentials{
			AccessKeyID:     h.getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"),
			AccessKeySecret: h.getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
			SecurityToken:   h.getenv("ALIBABA_CLOUD_SECURITY_TOKEN"),
		},
	}
	if fctx, ok := fccontext.FromContext(ctx); ok && fctx != nil {
		inv.RequestID = fctx.RequestID
		if fctx.Region != "" {
			inv.Region = fctx.Region
		}
		if fctx.AccountId != "" {
			inv.AccountID = fctx.AccountId
		}
		// The per-invocation role credentials win: FC rotates them.
		if fctx.Credentials.AccessKeyId != "" {
			inv.Creds = Credentials{
				AccessKeyID:     fctx.Credentials.AccessKeyId,
				AccessKeySecret: fctx.Credentials.AccessKeySecret,
				SecurityToken:   fctx.Credentials.SecurityToken,
			}
		}
	}
	return inv
}

func (h *Handler) handle(ctx context.Context, inv Invocation, payload []byte, log *slog.Logger) (*Result, error) {
	res := &Result{Function: string(h.fn)}
	if h.cfgErr != nil {
		return res, fmt.Errorf("configuration: %w", h.cfgErr)
	}
	if inv.Creds.AccessKeyID == "" {
		return res, errors.New("no credentials: give the function a RAM role (s.yaml role) so FC passes STS credentials")
	}

	kind, timer, evs, perr := parseChecked(payload) // size, depth, UTF-8, then shape (eventguard.go)
	res.Kind = kind.String()
	if perr != nil {
		// Acknowledge: retrying a malformed event can never succeed.
		res.Kind, res.Note = "malformed", perr.Error()
		log.Error("event rejected", obs.KeyAction, "reject", obs.KeyResult, backup.ResultSkipped, "reason", perr.Error())
		return res, nil
	}
	if err := h.kindAllowed(kind); err != nil {
		res.Kind, res.Note = "rejected", err.Error()
		log.Error("event rejected", obs.KeyAction, "reject", obs.KeyResult, backup.ResultSkipped, "reason", err.Error())
		return res, nil
	}
	// A timer's payload is configuration (s.yaml): a broken one fails the invocation, so the
	// failed-runs alert fires, instead of being acknowledged like a malformed event.
	tp, err := parseTimerPayload(h.fn, timer)
	if err != nil {
		log.Error("timer payload invalid", obs.KeyAction, "reject", obs.KeyResult, backup.ResultFailed, "reason", err.Error())
		return res, err
	}
	ctx = h.prof.label(ctx, profileWork(h.fn, kind, tp))
	if !tp.shard.All() {
		res.Shard = tp.shard.String()
		log = log.With("shard", res.Shard)
	}

	// The warm instance's clients for these credentials (warm.go).
	clients, err := h.clientsFor(inv.Creds)
	if err != nil {
		return res, err
	}
	store := func(region string) (ossx.Store, error) {
		return clients.store(h.cfg.OSSEndpointFor(region))
	}
	pol, err := h.loadPolicy(ctx, h.cfg.PolicyFor(inv.AccountID), func(ctx context.Context, url string) ([]byte, error) {
		s, err := store(inv.Region)
		if err != nil {
			return nil, err
		}
		return ossx.GetURL(ctx, s, url)
	})
	if err != nil {
		logProblems(log, err)
		return res, fmt.Errorf("policy: %w", err)
	}
	res.Policy, res.DryRun = pol.Name, pol.DryRun // the services add the policy key to their records
	if err := tp.checkRegions(pol); err != nil {
		log.Error("timer payload invalid", obs.KeyAction, "reject", obs.KeyResult, backup.ResultFailed, "reason", err.Error())
		return res, err
	}
	if h.fn == RDSOffsite {
		return h.offsite(ctx, inv, pol, timer, res, log)
	}

	// Paced, not rejected: every request (each page too) waits for its (region, action)
	// token on the handler's clock, at the policy's rates (ecsx.DefaultLimits otherwise).
	ctx = withPace(ctx, ecsx.NewLimiter(ecsx.Limits(pol.RateLimits), h.opts.Clock.Now, h.opts.Clock.Sleep))
	api, users := clients.ecs, clients.users
	now := boundedTime(timer, evs, cloudClock(ctx, api, inv.Region, h.opts.Clock, timer, evs, pol, log), pol, log)
	// Throttled retries stop at the soft deadline, on the clock they sleep on (ctx's own
	// deadline is a wall instant, another time scale on a simulated clock).
	soft, _ := backup.SoftDeadline(ctx)
	deps := backup.Deps{
		ECS: api, Users: users, Policy: pol, Log: log, Now: func() time.Time { return now }, Sleep: h.opts.Clock.Sleep,
		Retry:   ecsx.RetryConfig{Jitter: h.opts.Jitter, Now: h.opts.Clock.Now, Deadline: soft},
		Catalog: &catalogs{store: store, pol: pol, log: log},
		Compute: computeOf(api), RestoreMeta: &catalogs{store: store, pol: pol, log: log},
		AccountID: inv.AccountID, AcceptedTypes: h.cfg.AcceptedTypes,
		Shard: tp.shard, Regions: tp.Regions, Marks: &ossMarks{store: store, pol: pol, now: h.opts.Clock.Now},
	}

	switch {
	case h.fn == CreateImage:
		sum, err := deps.Create(ctx, now)
		res.Create = &sum
		return res, err
	case h.fn == CopyImage && kind == events.KindTimer:
		res.Mode = cmp.Or(tp.Mode, ModeDeep)
		reconcile := deps.Reconcile
		if res.Mode == ModePending {
			reconcile = deps.ReconcilePending // only the images marked as work in progress
		}
		sum, err := reconcile(ctx)
		res.Copy = &sum
		return res, err
	case h.fn == CopyImage:
		evs, foreign := outsideScope(evs, h.cfg.RegionScope, log)
		evs, outside := outsidePolicy(evs, pol, log)
		sum, err := deps.HandleEvents(ctx, evs)
		sum.Rejected = append(append(sum.Rejected, foreign...), outside...)
		res.Copy = &sum
		return res, err
	case h.fn == Cleanup:
		sum, err := deps.Cleanup(ctx)
		res.Cleanup = &sum
		return res, err
	case h.fn == DRDrill:
		return h.drill(ctx, res, deps, timer, inv.RequestID, store)
	}
	return res, fmt.Errorf("unknown function %q", h.fn)
}

// invocationTime is the "now" the services decide with. For a timer it is the time the
// timer was due, so a late or retried run makes the same decisions (slot, retention) as an
// on-time one. For image events it is the newest event time; events without a time do not
// count, so one time-less event in a batch cannot make "now" the zero time (which would
// stamp the catalog with year 1 and a negative RPO). Otherwise it is fallback.
func invocationTime(timer *events.TimerEvent, evs []events.ImageEvent, fallback time.Time) time.Time {
	if timer != nil && !timer.TriggerTime.IsZero() {
		return timer.TriggerTime
	}
	var newest time.Time
	for _, ev := range evs {
		if ev.Time.After(newest) {
			newest = ev.Time
		}
	}
	if newest.IsZero() {
		return fallback
	}
	return newest
}

// kindAllowed: create-image and cleanup run on timers only; copy-image takes image events
// and, on its timer, reconciles.
func (h *Handler) kindAllowed(k events.Kind) error {
	switch {
	case k == events.KindTimer:
		return nil
	case k == events.KindImageEvents && h.fn == CopyImage:
		return nil
	}
	return fmt.Errorf("%s does not handle %s payloads", h.fn, k)
}

// logProblems writes one record per policy problem so each is queryable in SLS.
func logProblems(log *slog.Logger, err error) {
	var ve *policy.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			log.Error("policy invalid", "field", p.Field, "reason", p.Reason, obs.KeyResult, backup.ResultFailed)
		}
		return
	}
	log.Error("policy not loaded", "error", err, obs.KeyResult, backup.ResultFailed)
}

// catalogs implements backup.Catalog over one OSS bucket per destination region.
type catalogs struct {
	store func(region string) (ossx.Store, error)
	pol   *policy.Policy
	log   *slog.Logger
}

func (c *catalogs) Sync(ctx context.Context, destRegion, pol string, entries []catalog.Entry, remove catalog.Scope) error {
	s, err := c.store(destRegion)
	if err != nil {
		return fmt.Errorf("catalog %s: %w", destRegion, err)
	}
	w := catalog.NewWriter(s, c.pol.CatalogBucket(destRegion), c.log)
	if err := w.SyncScope(ctx, pol, entries, remove); err != nil {
		return fmt.Errorf("catalog %s: %w", destRegion, err)
	}
	return nil
}

func (c *catalogs) Put(ctx context.Context, destRegion, pol string, e catalog.Entry) error {
	s, err := c.store(destRegion)
	if err != nil {
		return fmt.Errorf("catalog %s: %w", destRegion, err)
	}
	if _, err := catalog.NewWriter(s, c.pol.CatalogBucket(destRegion), c.log).Put(ctx, pol, e); err != nil {
		return fmt.Errorf("catalog %s: %w", destRegion, err)
	}
	return nil
}
