// Package app is the composition shared by the three functions: it reads the function's
// configuration from its environment, builds the cloud clients from the invocation's
// role credentials, loads the policy, and runs the matching service from pkg/backup.
package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/ecsdr/ecs-image-dr/pkg/events"
)

// Function names one of the deployed functions.
type Function string

// The functions of the product.
const (
	CreateImage Function = "create-image"
	CopyImage   Function = "copy-image" // image events; timer events mean "reconcile"
	Cleanup     Function = "cleanup"
	// DRDrill runs the scheduled DR drill ({"action":"drill"}) and the RPO monitor
	// ({"action":"rpo"}) on timers (drill.go).
	DRDrill Function = "dr-drill"
)

// Environment variables a function reads (set in s.yaml). Endpoints are empty in
// production (Alibaba Cloud's regional endpoints) and set for Apsara Stack or the local cloud.
const (
	EnvPolicy        = "DR_POLICY"               // inline YAML/JSON, a file path, or oss://bucket/key ("{account}" replaced)
	EnvECSEndpoint   = "DR_ECS_ENDPOINT"         // host[:port] for every region
	EnvECSScheme     = "DR_ECS_SCHEME"           // HTTP or HTTPS (default HTTPS)
	EnvOSSEndpoint   = "DR_OSS_ENDPOINT"         // URL; "{region}" is replaced (default https://oss-{region}.aliyuncs.com)
	EnvSLSEndpoint   = "DR_SLS_ENDPOINT"         // [https://]host[:port], "{region}" replaced (default https://{region}.log.aliyuncs.com)
	EnvSLSProject    = "DR_SLS_PROJECT"          // empty: records go to stdout only
	EnvSLSLogstore   = "DR_SLS_LOGSTORE"         // default "ecs-image-dr"
	EnvAcceptedTypes = "DR_ACCEPTED_EVENT_TYPES" // comma list, exact or prefix*; default both image event families (events.DefaultTypes)
	EnvLogLevel      = "DR_LOG_LEVEL"            // debug|info|warn|error (default info)
	// EnvRegionScope: the one region whose image events this deployment acts on (the
	// event receiver of an extra source region, s.receiver.yaml); empty: every region.
	EnvRegionScope = "DR_REGION_SCOPE"
)

// DefaultEventType is the EventBridge type of ECS image state changes: the events
// filter's own default, named once there. It is inferred from CloudMonitor's
// Image:StateChange (see the README); DR_ACCEPTED_EVENT_TYPES changes it without a rebuild.
const DefaultEventType = events.TypeImageStateChange

// Config is a function's configuration.
type Config struct {
	Policy        string
	ECSEndpoint   string
	ECSScheme     string
	OSSEndpoint   string
	SLSEndpoint   string
	SLSProject    string
	SLSLogstore   string
	AcceptedTypes []string
	LogLevel      slog.Level
	RegionScope   string
}

// ConfigFromEnv reads and checks the configuration; the error lists every problem.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Policy:      strings.TrimSpace(getenv(EnvPolicy)),
		ECSEndpoint: strings.TrimSpace(getenv(EnvECSEndpoint)),
		ECSScheme:   strings.ToUpper(strings.TrimSpace(getenv(EnvECSScheme))),
		OSSEndpoint: strings.TrimSpace(getenv(EnvOSSEndpoint)),
		SLSEndpoint: strings.TrimSpace(getenv(EnvSLSEndpoint)),
		SLSProject:  strings.TrimSpace(getenv(EnvSLSProject)),
		SLSLogstore: strings.TrimSpace(getenv(EnvSLSLogstore)),
		RegionScope: strings.TrimSpace(getenv(EnvRegionScope)),
	}
	var errs []error
	if c.Policy == "" {
		errs = append(errs, fmt.Errorf("%s: required (inline YAML/JSON, a file path, or oss://bucket/key)", EnvPolicy))
	}
	switch c.ECSScheme {
	case "":
		c.ECSScheme = "HTTPS"
	case "HTTP", "HTTPS":
	default:
		errs = append(errs, fmt.Errorf("%s: %q is not HTTP or HTTPS", EnvECSScheme, c.ECSScheme))
	}
	if strings.Contains(c.ECSEndpoint, "://") || strings.Contains(c.ECSEndpoint, "/") {
		errs = append(errs, fmt.Errorf("%s: %q must be host[:port] without scheme or path", EnvECSEndpoint, c.ECSEndpoint))
	}
	if c.OSSEndpoint != "" {
		if u, err := url.Parse(strings.ReplaceAll(c.OSSEndpoint, "{region}", "r")); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s: %q must be an http(s) URL", EnvOSSEndpoint, c.OSSEndpoint))
		}
	}
	if c.RegionScope != "" && !regionIDRE.MatchString(c.RegionScope) {
		errs = append(errs, fmt.Errorf("%s: %q is not a region id (e.g. cn-shanghai)", EnvRegionScope, c.RegionScope))
	}
	if c.SLSLogstore == "" {
		c.SLSLogstore = "ecs-image-dr"
	}
	for _, t := range strings.Split(getenv(EnvAcceptedTypes), ",") {
		if t = strings.TrimSpace(t); t != "" {
			c.AcceptedTypes = append(c.AcceptedTypes, t)
		}
	}
	if len(c.AcceptedTypes) == 0 {
		c.AcceptedTypes = slices.Clone(events.DefaultTypes)
	}
	switch strings.ToLower(strings.TrimSpace(getenv(EnvLogLevel))) {
	case "", "info":
		c.LogLevel = slog.LevelInfo
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		errs = append(errs, fmt.Errorf("%s: %q is not debug, info, warn or error", EnvLogLevel, getenv(EnvLogLevel)))
	}
	return c, errors.Join(errs...)
}

// regionIDRE is what a region id looks like (cn-hangzhou, ap-southeast-1).
var regionIDRE = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+){1,4}$`)

// OSSEndpointFor returns the OSS endpoint URL for region.
func (c Config) OSSEndpointFor(region string) string {
	if c.OSSEndpoint == "" {
		return "https://oss-" + region + ".aliyuncs.com"
	}
	return strings.ReplaceAll(c.OSSEndpoint, "{region}", region)
}

// SLSEndpointFor returns the SLS endpoint for region, always with a scheme: the SDK
// speaks plain HTTP to an endpoint without one, and the STS token travels in a header.
// The default is the public HTTPS endpoint; {region}-intranet.log.aliyuncs.com (set
// DR_SLS_ENDPOINT) keeps the traffic in the region. A bare IP or localhost endpoint (the
// local cloud) stays HTTP.
func (c Config) SLSEndpointFor(region string) string {
	ep := strings.ReplaceAll(c.SLSEndpoint, "{region}", region)
	if ep == "" {
		ep = region + ".log.aliyuncs.com"
	}
	if strings.Contains(ep, "://") {
		return ep
	}
	host := ep
	if h, _, err := net.SplitHostPort(ep); err == nil {
		host = h
	}
	if net.ParseIP(strings.Trim(host, "[]")) != nil || host == "localhost" {
		return "http://" + ep
	}
	return "https://" + ep
}

// PolicyFor returns DR_POLICY with {account} replaced by the invocation's account id
// (s.yaml's default names the config bucket scripts/bootstrap makes per account).
func (c Config) PolicyFor(accountID string) string {
	return strings.ReplaceAll(c.Policy, "{account}", accountID)
}
