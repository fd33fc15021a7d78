// Command drctl is the operator's DR console: status (RPO now, last runs, problems), plan
// (what create, copy and cleanup would do now), restore (launch a protected server in a DR
// region from its newest or a chosen copy) and drill (the same into the drill network,
// verified and torn down). It runs on the same pkg/ code as the functions.
//
//	drctl [global flags] status [--json]
//	drctl [global flags] plan [--json]
//	drctl [global flags] restore --instance i-... [--region R] [--at TIME] [--instance-type T] [--yes] [--allow-duplicate]
//	drctl [global flags] drill --instance i-... [--json]
//	drctl [global flags] gc
//
// Credentials: ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET (and
// ALIBABA_CLOUD_SECURITY_TOKEN for STS), or --profile NAME from ~/.aliyun/config.json.
// Endpoints default to Alibaba Cloud's; --localcloud URL points everything (and the clock)
// at the local cloud.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	sls "github.com/aliyun/aliyun-log-go-sdk"

	"github.com/ecsdr/ecs-image-dr/pkg/app"
	"github.com/ecsdr/ecs-image-dr/pkg/backup"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/localcloud/core"
	lcsls "github.com/ecsdr/ecs-image-dr/pkg/localcloud/sls"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
	"github.com/ecsdr/ecs-image-dr/pkg/restore"
)

const usage = `drctl: ECS image DR operator console

usage: drctl [global flags] <command> [flags]

commands:
  status    per instance and DR region: newest restorable image, RPO now, last drill, last runs, problems
            (exit 2 when a target is missed or a last run failed)
  plan      what create, copy and cleanup would do right now (dry run), per region
  restore   launch a protected server in a DR region: --instance i-... [--region R] [--at TIME]
            [--instance-type T] [--yes] [--allow-duplicate]
  drill     restore into the drill network, verify, measure the RTO, tear down: --instance i-...
  gc        delete leftover drill instances whose time is up

global flags:
`

type globals struct {
	policy, profile, ecsEndpoint, ossEndpoint, slsEndpoint, scheme, slsProject, slsLogstore, localcloud, prefix string
	jsonOut                                                                                                     bool
	tz                                                                                                          string
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var g globals
	fs := flag.NewFlagSet("drctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	fs.StringVar(&g.policy, "policy", os.Getenv(app.EnvPolicy), "the DR policy: a file, inline YAML/JSON or oss://bucket/key (default $DR_POLICY)")
	fs.StringVar(&g.profile, "profile", "", "credentials from this profile of ~/.aliyun/config.json instead of the environment")
	fs.StringVar(&g.ecsEndpoint, "ecs-endpoint", os.Getenv(app.EnvECSEndpoint), "ECS endpoint host[:port] for every region (default: regional)")
	fs.StringVar(&g.ossEndpoint, "oss-endpoint", os.Getenv(app.EnvOSSEndpoint), "OSS endpoint URL, {region} replaced (default https://oss-{region}.aliyuncs.com)")
	fs.StringVar(&g.slsEndpoint, "sls-endpoint", os.Getenv(app.EnvSLSEndpoint), "SLS endpoint host[:port] (default {region}.log.aliyuncs.com)")
	fs.StringVar(&g.scheme, "scheme", os.Getenv(app.EnvECSScheme), "ECS scheme HTTP or HTTPS (default HTTPS)")
	fs.StringVar(&g.slsProject, "sls-project", os.Getenv(app.EnvSLSProject), "SLS project of the functions' records (status shows their last runs)")
	fs.StringVar(&g.slsLogstore, "sls-logstore", envOr(app.EnvSLSLogstore, "ecs-image-dr"), "SLS logstore")
	fs.StringVar(&g.prefix, "function-prefix", "ecs-image-dr-", "FC function name prefix (s.yaml name + \"-\")")
	fs.StringVar(&g.localcloud, "localcloud", "", "local cloud URL (http://127.0.0.1:8787): every endpoint and the clock")
	fs.StringVar(&g.tz, "tz", "Asia/Shanghai", "time zone of the times shown")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	c, err := newConsole(ctx, g, stdin, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "drctl: %v\n", err)
		return 1
	}
	switch cmd {
	case "status":
		return c.status(ctx, rest)
	case "plan":
		return c.plan(ctx, rest)
	case "restore":
		return c.restore(ctx, rest)
	case "drill":
		return c.drill(ctx, rest)
	case "gc":
		return c.gc(ctx, rest)
	}
	fmt.Fprintf(stderr, "drctl: unknown command %q\n", cmd)
	fs.Usage()
	return 1
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// console is one drctl invocation's clients and policy.
type console struct {
	g              globals
	ak, secret, st string
	pol            *policy.Policy
	api            ecsx.API
	deps           restore.Deps
	store          func(region string) (ossx.Store, error)
	loc            *time.Location
	stdin          io.Reader
	out, errw      io.Writer
}

func newConsole(ctx context.Context, g globals, stdin io.Reader, stdout, stderr io.Writer) (*console, error) {
	c := &console{g: g, stdin: stdin, out: stdout, errw: stderr}
	var err error
	if c.loc, err = time.LoadLocation(g.tz); err != nil {
		return nil, fmt.Errorf("--tz %q: %w", g.tz, err)
	}
	now, sleep := time.Now, ecsx.SleepContext
	if g.localcloud != "" {
		u, err := url.Parse(g.localcloud)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("--localcloud %q: want a URL such as http://127.0.0.1:8787", g.localcloud)
		}
		c.g.ecsEndpoint, c.g.ossEndpoint, c.g.slsEndpoint, c.g.scheme = u.Host, u.Scheme+"://"+u.Host, u.Host, strings.ToUpper(u.Scheme)
		lc := &localClock{base: u.Scheme + "://" + u.Host}
		if err := lc.sync(ctx); err != nil {
			return nil, err
		}
		now, sleep = lc.Now, lc.Sleep
	}
	if c.ak, c.secret, c.st, err = credentials(g.profile); err != nil {
		return nil, err
	}
	cfg, cfgErr := app.ConfigFromEnv(func(k string) string {
		switch k {
		case app.EnvPolicy:
			return c.g.policy
		case app.EnvECSEndpoint:
			return c.g.ecsEndpoint
		case app.EnvECSScheme:
			return c.g.scheme
		case app.EnvOSSEndpoint:
			return c.g.ossEndpoint
		case app.EnvSLSEndpoint:
			return c.g.slsEndpoint
		}
		return ""
	})
	if cfgErr != nil {
		return nil, fmt.Errorf("configuration: %w", cfgErr)
	}
	c.store = func(region string) (ossx.Store, error) {
		return ossx.New(cfg.OSSEndpointFor(region), c.ak, c.secret, c.st)
	}
	c.pol, err = policy.Load(ctx, cfg.Policy, func(ctx context.Context, loc string) ([]byte, error) {
		s, err := c.store("cn-hangzhou")
		if err != nil {
			return nil, err
		}
		return ossx.GetURL(ctx, s, loc)
	})
	if err != nil {
		return nil, err
	}
	c.api, err = ecsx.NewSDK(ecsx.SDKConfig{Endpoint: cfg.ECSEndpoint, Scheme: cfg.ECSScheme,
		Credentials: func() (string, string, string) { return c.ak, c.secret, c.st }})
	if err != nil {
		return nil, err
	}
	compute, _ := c.api.(ecsx.Compute)
	c.deps = restore.Deps{ECS: c.api, Compute: compute, Policy: c.pol, Now: now, Sleep: sleep,
		Log:      slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Catalog:  restore.OSSCatalog{Policy: c.pol, Store: c.store},
		Progress: func(s string) { fmt.Fprintf(stderr, "  %s  %s\n", now().In(c.loc).Format("15:04:05"), s) }}
	c.g.slsEndpoint = cfg.SLSEndpointFor(c.pol.DrillRegion())
	return c, nil
}

// credentials: the environment, or a profile of the aliyun CLI's config file.
func credentials(profile string) (ak, secret, token string, err error) {
	if profile == "" {
		ak, secret, token = os.Getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"), os.Getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET"), os.Getenv("ALIBABA_CLOUD_SECURITY_TOKEN")
		if ak == "" || secret == "" {
			return "", "", "", errors.New("no credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN for STS), or pass --profile")
		}
		return ak, secret, token, nil
	}
	home, _ := os.UserHomeDir()
	path := filepath.Join(home, ".aliyun", "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", "", fmt.Errorf("profile %s: %w", profile, err)
	}
	var cfg struct {
		Profiles []struct {
			Name            string `json:"name"`
			Mode            string `json:"mode"`
			AccessKeyID     string `json:"access_key_id"`
			AccessKeySecret string `json:"access_key_secret"`
			StsToken        string `json:"sts_token"`
		} `json:"profiles"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return "", "", "", fmt.Errorf("profile %s: %s is not the aliyun CLI config: %w", profile, path, err)
	}
	for _, p := range cfg.Profiles {
		if p.Name != profile {
			continue
		}
		if p.AccessKeyID == "" || p.AccessKeySecret == "" {
			return "", "", "", fmt.Errorf("profile %s (mode %s) has no access key: drctl reads AK and StsToken profiles", profile, p.Mode)
		}
		return p.AccessKeyID, p.AccessKeySecret, p.StsToken, nil
	}
	return "", "", "", fmt.Errorf("profile %s not found in %s", profile, path)
}

// localClock reads the local cloud's simulated clock: RTOs are measured on it, and a wait
// of d sleeps d/speed of wall time.
type localClock struct {
	base  string
	at    time.Time // simulated time at wall
	wall  time.Time
	speed float64
}

func (l *localClock) sync(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, l.base+"/_localcloud/clock", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("local cloud clock: %w", err)
	}
	defer resp.Body.Close()
	var v struct {
		Now   time.Time `json:"now"`
		Speed float64   `json:"speed"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.Now.IsZero() {
		return fmt.Errorf("local cloud clock: unreadable answer (%v)", err)
	}
	l.at, l.wall, l.speed = v.Now, time.Now(), v.Speed
	return nil
}

func (l *localClock) Now() time.Time {
	if l.speed <= 0 {
		_ = l.sync(context.Background()) // a manual clock: read it every time
		return l.at
	}
	return l.at.Add(time.Duration(float64(time.Since(l.wall)) * l.speed))
}

func (l *localClock) Sleep(ctx context.Context, d time.Duration) error {
	if l.speed <= 0 {
		return ecsx.SleepContext(ctx, 200*time.Millisecond) // someone else moves a manual clock
	}
	return ecsx.SleepContext(ctx, time.Duration(float64(d)/l.speed))
}

// ---- status ----

type lastRun struct {
	Function string    `json:"function"`
	Time     time.Time `json:"time"`
	Result   string    `json:"result"`
	Error    string    `json:"error,omitempty"`
}

func (c *console) status(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(c.errw)
	jsonOut := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	st, err := c.deps.Status(ctx)
	if err != nil {
		fmt.Fprintf(c.errw, "drctl status: %v\n", err)
		return 1
	}
	// SLS stamps records with the functions' own (wall) clock, also on the local cloud.
	runs, runErr := c.lastRuns(time.Now())
	failed := 0
	for _, r := range runs {
		if r.Result != "ok" {
			failed++
		}
	}
	if *jsonOut {
		out := struct {
			restore.Status
			LastRuns      []lastRun `json:"lastRuns"`
			LastRunsError string    `json:"lastRunsError,omitempty"`
		}{Status: st, LastRuns: runs}
		if runErr != nil {
			out.LastRunsError = runErr.Error()
		}
		enc := json.NewEncoder(c.out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	} else {
		restore.PrintStatus(c.out, st, c.loc)
		switch {
		case runErr != nil:
			fmt.Fprintf(c.out, "last runs: not read (%v)\n", runErr)
		case len(runs) == 0:
			fmt.Fprintln(c.out, "last runs: no records in the last 48h")
		default:
			fmt.Fprintln(c.out, "last runs:")
			for _, r := range runs {
				line := fmt.Sprintf("  %-14s %s  %s", strings.TrimPrefix(r.Function, c.g.prefix), r.Time.In(c.loc).Format("01-02 15:04"), r.Result)
				if r.Error != "" {
					line += ": " + r.Error
				}
				fmt.Fprintln(c.out, line)
			}
		}
	}
	if st.Missed > 0 || failed > 0 {
		return 2
	}
	return 0
}

// lastRuns reads each function's newest invocation record from SLS (topic = function).
func (c *console) lastRuns(now time.Time) ([]lastRun, error) {
	if c.g.slsProject == "" {
		return nil, errors.New("no --sls-project")
	}
	client := sls.CreateNormalInterface(c.g.slsEndpoint, c.ak, c.secret, c.st)
	if c.g.localcloud != "" {
		// The SDK puts the project in the host name: dial the local cloud whatever the name.
		u, _ := url.Parse(c.g.localcloud)
		client = lcsls.NewSDKClient(u.Host, core.Credential{AccessKeyID: c.ak, AccessKeySecret: c.secret, SecurityToken: c.st})
	}
	var out []lastRun
	for _, fn := range []string{"create-image", "copy-image", "cleanup", "dr-drill"} {
		resp, err := client.GetLogs(c.g.slsProject, c.g.slsLogstore, fn, now.Add(-48*time.Hour).Unix(), now.Add(time.Minute).Unix(), "*", 100, 0, true)
		if err != nil {
			return out, fmt.Errorf("sls GetLogs: %w", err)
		}
		var best map[string]string
		var bestT time.Time
		for _, l := range resp.Logs {
			if l["msg"] != "invocation done" && l["msg"] != "invocation failed" {
				continue
			}
			t, _ := time.Parse(time.RFC3339Nano, l["time"])
			if best == nil || t.After(bestT) {
				best, bestT = l, t
			}
		}
		if best == nil {
			continue
		}
		r := lastRun{Function: fn, Time: bestT, Result: best["result"]}
		if r.Result != "ok" {
			r.Error = best["error"]
		}
		out = append(out, r)
	}
	return out, nil
}

// ---- plan ----

func (c *console) plan(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(c.errw)
	jsonOut := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	dry := *c.pol
	dry.DryRun = true
	cat := restore.OSSCatalog{Policy: &dry, Store: c.store}
	d := backup.Deps{ECS: c.api, Policy: &dry, Now: c.deps.Now, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Catalog: cat}
	now := c.deps.Now()
	cr, cerr := d.Create(ctx, now)
	cp, perr := d.Reconcile(ctx)
	cl, lerr := d.Cleanup(ctx)
	if *jsonOut {
		enc := json.NewEncoder(c.out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{"create": cr, "copy": cp, "cleanup": cl})
	} else {
		printItems(c.out, "create ("+cr.Slot+")", cr.Planned, cr.Failed)
		printItems(c.out, "copy", cp.Planned, cp.Failed)
		printItems(c.out, "cleanup", cl.Planned, cl.Failed)
	}
	for _, err := range []error{cerr, perr, lerr} {
		if err != nil {
			fmt.Fprintf(c.errw, "drctl plan: %v\n", err)
			return 1
		}
	}
	return 0
}

func printItems(w io.Writer, what string, planned, failed []backup.Item) {
	by := map[string][]string{}
	for _, it := range planned {
		by[it.Region] = append(by[it.Region], strings.TrimSpace(it.Instance+" "+it.Image+" "+it.Reason))
	}
	fmt.Fprintf(w, "%s: %d planned\n", what, len(planned))
	regions := make([]string, 0, len(by))
	for r := range by {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	for _, r := range regions {
		fmt.Fprintf(w, "  %s:\n", r)
		for _, l := range by[r] {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
	for _, it := range failed {
		fmt.Fprintf(w, "  cannot plan %s %s: %s\n", it.Region, it.Instance, it.Reason)
	}
}

// ---- restore, drill, gc ----

func parseAt(s string, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--at %q: want RFC 3339 or 2006-01-02T15:04 (in --tz)", s)
}

func (c *console) restore(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(c.errw)
	inst := fs.String("instance", "", "the protected instance id (i-...)")
	region := fs.String("region", "", "DR region (default: the policy's drill region, else the first destination)")
	at := fs.String("at", "", "restore the newest copy with data from this time or earlier")
	itype := fs.String("instance-type", "", "override the recorded instance type")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	dup := fs.Bool("allow-duplicate", false, "launch even when a restored copy of this server exists")
	health := fs.String("health", "", "a shell command run through Cloud Assistant once Running (RTO until it passes)")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	when, err := parseAt(*at, c.loc)
	if err != nil {
		fmt.Fprintf(c.errw, "drctl restore: %v\n", err)
		return 1
	}
	runID := fmt.Sprintf("drctl-%d", time.Now().UnixNano())
	p, err := c.deps.Prepare(ctx, restore.Request{InstanceID: *inst, Region: *region, At: when, InstanceType: *itype,
		AllowDuplicate: *dup, RunID: runID, HealthCommand: *health})
	if err != nil {
		fmt.Fprintf(c.errw, "drctl restore: %v\n", err)
		return 1
	}
	fmt.Fprintf(c.out, "restore %s in %s\n  image     %s (data of %s)\n  type      %s\n  network   %s (%s), groups %s\n  disks     %d\n",
		p.InstanceID, p.Region, p.Image.ID, p.DataTime.In(c.loc).Format("2006-01-02 15:04 MST"), p.InstanceType, p.VSwitchID, p.Zone,
		strings.Join(p.Groups, ","), len(p.Spec.Disks))
	if p.TypeNote != "" {
		fmt.Fprintf(c.out, "  note      %s\n", p.TypeNote)
	}
	if len(p.Dropped) > 0 {
		fmt.Fprintf(c.out, "  tags left out (ECS allows 20): %s\n", strings.Join(p.Dropped, ", "))
	}
	if !*yes {
		fmt.Fprint(c.out, "launch it? type yes: ")
		line, _ := bufio.NewReader(c.stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			fmt.Fprintln(c.out, "not launched")
			return 1
		}
	}
	res, err := c.deps.Restore(ctx, p, c.deps.Now())
	if err != nil {
		fmt.Fprintf(c.errw, "drctl restore: %v\n", err)
		if res.NewInstance != "" {
			fmt.Fprintf(c.errw, "drctl restore: %s was launched and is kept (you asked for it); delete it with DeleteInstance if unwanted\n", res.NewInstance)
		}
		return 1
	}
	fmt.Fprintf(c.out, "restored %s as %s in %s (%s): Running, RTO %s\n", res.InstanceID, res.NewInstance, res.Region, res.Zone, res.RTO.Round(time.Second))
	return 0
}

func (c *console) drill(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("drill", flag.ContinueOnError)
	fs.SetOutput(c.errw)
	inst := fs.String("instance", "", "the protected instance id (i-...)")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	res, err := c.deps.Drill(ctx, *inst, fmt.Sprintf("drctl-%d", time.Now().UnixNano()))
	if err != nil {
		fmt.Fprintf(c.errw, "drctl drill: %v\n", err)
		return 1
	}
	if *jsonOut {
		enc := json.NewEncoder(c.out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else if res.Verified {
		fmt.Fprintf(c.out, "drill of %s in %s verified from %s: RTO %s; drill instance %s torn down\n", res.InstanceID, res.Region,
			res.ImageID, res.RTO.Round(time.Second), res.NewInstance)
	} else {
		fmt.Fprintf(c.out, "drill of %s in %s FAILED: %s\n", res.InstanceID, res.Region, res.Reason)
	}
	if res.TeardownError != "" {
		fmt.Fprintf(c.errw, "drctl drill: drill instance %s not deleted yet (%s): drctl gc or the next dr-drill run removes it\n", res.NewInstance, res.TeardownError)
	}
	if !res.Verified {
		return 2
	}
	return 0
}

func (c *console) gc(ctx context.Context, args []string) int {
	res, err := c.deps.GC(ctx)
	fmt.Fprintf(c.out, "drill instances in %s: %d found, %d removed, %d kept (not expired), %d failed\n", res.Region,
		len(res.Found), len(res.Removed), len(res.Kept), len(res.Failed))
	if err != nil {
		fmt.Fprintf(c.errw, "drctl gc: %v\n", err)
		return 1
	}
	return 0
}
