package obs

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	sls "github.com/aliyun/aliyun-log-go-sdk"
)

// ProvisionConfig names what Provision creates.
type ProvisionConfig struct {
	Project  string
	Logstore string
	Region   string // region of the project, used by the alert's query
	// TTLDays and Shards apply when the logstore is created (defaults 90 and 2).
	TTLDays, Shards int
	// Dashboard and Alert names (defaults "<logstore>-overview", "<logstore>-backup-failed").
	Dashboard, Alert string
	// CreateProject creates a missing project instead of failing.
	CreateProject bool
	// ActionPolicyID is the SLS alert action policy that notifies a person (DingTalk
	// webhook, email or SMS, set up in the SLS console's alert center); default
	// "ecs-image-dr-notify". Both alerts use it.
	ActionPolicyID string
	// Heartbeat names the missing-heartbeat alert (default "<logstore>-heartbeat-missing").
	Heartbeat string
}

func (c ProvisionConfig) withDefaults() (ProvisionConfig, error) {
	var errs []error
	if c.Project == "" {
		errs = append(errs, errors.New("obs: provision: project is required"))
	}
	if c.Logstore == "" {
		errs = append(errs, errors.New("obs: provision: logstore is required"))
	}
	if c.Region == "" {
		errs = append(errs, errors.New("obs: provision: region is required"))
	}
	if c.TTLDays <= 0 {
		c.TTLDays = 90
	}
	if c.Shards <= 0 {
		c.Shards = 2
	}
	if c.Dashboard == "" {
		c.Dashboard = c.Logstore + "-overview"
	}
	if c.Alert == "" {
		c.Alert = c.Logstore + "-backup-failed"
	}
	if c.Heartbeat == "" {
		c.Heartbeat = c.Logstore + "-heartbeat-missing"
	}
	if c.ActionPolicyID == "" {
		c.ActionPolicyID = DefaultActionPolicy
	}
	return c, errors.Join(errs...)
}

// Step is one resource Provision looked at, and what it did.
type Step struct {
	Kind    string // project, logstore, index, dashboard, alert
	Name    string
	Outcome string // created, updated, exists
}

func (s Step) String() string { return fmt.Sprintf("%-9s %-40s %s", s.Kind, s.Name, s.Outcome) }

// Provision makes sure the logstore, its index, the dashboard and the failed-backup alert
// exist, creating what is missing. It is idempotent: a second run changes nothing and
// reports every step "exists". An index missing some of IndexConfig's keys, or typing
// them differently, is updated (other keys are kept); an existing dashboard or alert is
// left alone, since an operator may have tuned it. A missing project is an error unless
// cfg.CreateProject.
func Provision(c sls.ClientInterface, cfg ProvisionConfig) ([]Step, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var steps []Step
	step := func(kind, name, outcome string) { steps = append(steps, Step{kind, name, outcome}) }
	// ensure looks a resource up and, when SLS says it does not exist (404), creates it;
	// create nil means "do not create": the missing resource is an error.
	ensure := func(kind, name string, get, create func() error) error {
		err := get()
		switch {
		case err == nil:
			step(kind, name, "exists")
			return nil
		case !isNotFound(err):
			return fmt.Errorf("obs: get %s %s: %w", kind, name, err)
		case create == nil:
			return fmt.Errorf("obs: %s %s does not exist; create it or ask for it to be created: %w", kind, name, err)
		}
		if err := create(); err != nil {
			return fmt.Errorf("obs: create %s %s: %w", kind, name, err)
		}
		step(kind, name, "created")
		return nil
	}

	var createProject func() error
	if cfg.CreateProject {
		createProject = func() error {
			_, err := c.CreateProject(cfg.Project, "ECS image disaster recovery logs")
			return err
		}
	}
	if err := ensure("project", cfg.Project, func() error { _, err := c.GetProject(cfg.Project); return err }, createProject); err != nil {
		return steps, err
	}
	if err := ensure("logstore", cfg.Logstore,
		func() error { _, err := c.GetLogStore(cfg.Project, cfg.Logstore); return err },
		func() error {
			return c.CreateLogStoreV2(cfg.Project, &sls.LogStore{Name: cfg.Logstore, TTL: cfg.TTLDays, ShardCount: cfg.Shards,
				AutoSplit: true, MaxSplitShard: 64, AppendMeta: true})
		}); err != nil {
		return steps, err
	}

	// index
	want := IndexConfig()
	have, err := c.GetIndex(cfg.Project, cfg.Logstore)
	switch {
	case err != nil && !isNotFound(err):
		return steps, fmt.Errorf("obs: get index of %s: %w", cfg.Logstore, err)
	case err != nil:
		if err := c.CreateIndex(cfg.Project, cfg.Logstore, want); err != nil {
			return steps, fmt.Errorf("obs: create index of %s: %w", cfg.Logstore, err)
		}
		step("index", cfg.Logstore, "created")
	default:
		merged, changed := mergeIndex(*have, want)
		if changed {
			if err := c.UpdateIndex(cfg.Project, cfg.Logstore, merged); err != nil {
				return steps, fmt.Errorf("obs: update index of %s: %w", cfg.Logstore, err)
			}
			step("index", cfg.Logstore, "updated")
		} else {
			step("index", cfg.Logstore, "exists")
		}
	}

	// An existing dashboard or alert is left alone: an operator may have tuned it.
	if err := ensure("dashboard", cfg.Dashboard,
		func() error { _, err := c.GetDashboard(cfg.Project, cfg.Dashboard); return err },
		func() error {
			return c.CreateDashboard(cfg.Project, DashboardConfig(cfg.Project, cfg.Logstore, cfg.Dashboard))
		}); err != nil {
		return steps, err
	}
	if err := ensure("alert", cfg.Alert,
		func() error { _, err := c.GetAlert(cfg.Project, cfg.Alert); return err },
		func() error {
			a := AlertConfig(cfg.Project, cfg.Logstore, cfg.Region, cfg.Alert, cfg.Dashboard)
			a.Configuration.PolicyConfiguration.ActionPolicyId = cfg.ActionPolicyID
			return c.CreateAlert(cfg.Project, a)
		}); err != nil {
		return steps, err
	}
	if err := ensure("alert", cfg.Heartbeat,
		func() error { _, err := c.GetAlert(cfg.Project, cfg.Heartbeat); return err },
		func() error {
			return c.CreateAlert(cfg.Project, HeartbeatAlertConfig(cfg.Project, cfg.Logstore, cfg.Region, cfg.Heartbeat, cfg.ActionPolicyID))
		}); err != nil {
		return steps, err
	}
	rpo := cfg.Logstore + "-rpo-missed" // rpo_alert.go
	if err := ensure("alert", rpo,
		func() error { _, err := c.GetAlert(cfg.Project, rpo); return err },
		func() error {
			a := RPOAlertConfig(cfg.Project, cfg.Logstore, cfg.Region, rpo, cfg.Dashboard)
			a.Configuration.PolicyConfiguration.ActionPolicyId = cfg.ActionPolicyID // the same delivery as the others
			return c.CreateAlert(cfg.Project, a)
		}); err != nil {
		return steps, err
	}
	return steps, nil
}

// isNotFound: every "does not exist" of SLS (ProjectNotExist, LogStoreNotExist,
// IndexConfigNotExist, and the dashboard and job equivalents) is a 404.
func isNotFound(err error) bool {
	var e *sls.Error
	return errors.As(err, &e) && e.HTTPCode == 404
}

// tokens are the separators of the SDK's default full-text index.
var tokens = sls.CreateDefaultIndex().Line.Token

// IndexConfig is the logstore index the queries, dashboard and alert need: the Key*
// attributes and the fixed contents as text (with doc values, for SQL), duration_ms as long,
// plus a full-text index for bare-term searches.
func IndexConfig() sls.Index {
	text := sls.IndexKey{Token: tokens, Type: "text", DocValue: true}
	keys := map[string]sls.IndexKey{KeyDuration: {Type: "long", DocValue: true}}
	for _, k := range []string{
		KeyFunction, KeyRequestID, KeyPolicy, KeyAction, KeyRegion, KeyInstance, KeyImage,
		KeySourceImage, KeyResult, KeyErrorCode, ContentTime, ContentLevel, ContentMsg,
		"error", "snapshot", "reason", // also written by pkg/backup
	} {
		keys[k] = text
	}
	return sls.Index{Keys: keys, Line: &sls.IndexLine{Token: tokens}}
}

// mergeIndex adds want's keys to have, reporting whether anything changed.
func mergeIndex(have, want sls.Index) (sls.Index, bool) {
	out := have
	out.Keys = maps.Clone(have.Keys)
	if out.Keys == nil {
		out.Keys = map[string]sls.IndexKey{}
	}
	changed := false
	for _, k := range slices.Sorted(maps.Keys(want.Keys)) {
		w := want.Keys[k]
		if h, ok := out.Keys[k]; !ok || h.Type != w.Type || h.DocValue != w.DocValue {
			out.Keys[k] = w
			changed = true
		}
	}
	if out.Line == nil && want.Line != nil {
		out.Line = want.Line
		changed = true
	}
	return out, changed
}

// DashboardConfig is the DR dashboard: failures by region, images created, copied and
// deleted per day, and the latest failures.
func DashboardConfig(project, logstore, name string) sls.Dashboard {
	chart := func(title, typ, query, start string, x, y, w, h float64, xAxis, yAxis []string) sls.Chart {
		return sls.Chart{
			Title: title, Type: typ,
			Search:  sls.ChartSearch{Logstore: logstore, Topic: "", Query: query, Start: start, End: "now"},
			Display: sls.ChartDisplay{XPosition: x, YPosition: y, Width: w, Height: h, DisplayName: title, XAxisKeys: xAxis, YAxisKeys: yAxis},
		}
	}
	perDay := func(action string) string {
		return fmt.Sprintf("%s: %s and %s: %s | select date_trunc('day', __time__) as day, count(1) as images group by day order by day limit 1000",
			KeyAction, action, KeyResult, ResultOK)
	}
	const day, month = "-86400s", "-2592000s"
	return sls.Dashboard{
		DashboardName: name,
		DisplayName:   "ECS image DR (" + project + "/" + logstore + ")",
		Description:   "Backups, copies and cleanup of ECS image disaster recovery",
		ChartList: []sls.Chart{
			chart("Failures by region (24h)", "bar",
				fmt.Sprintf("%s: %s | select %s, count(1) as failures group by %s order by failures desc limit 50", KeyResult, ResultFailed, KeyRegion, KeyRegion),
				day, 0, 0, 5, 5, []string{KeyRegion}, []string{"failures"}),
			chart("Images created per day", "line", perDay(ActionCreateImage), month, 5, 0, 5, 5, []string{"day"}, []string{"images"}),
			chart("Images copied per day", "line", perDay(ActionCopyImage), month, 0, 5, 5, 5, []string{"day"}, []string{"images"}),
			chart("Images deleted per day", "line", perDay(ActionDeleteImage), month, 5, 5, 5, 5, []string{"day"}, []string{"images"}),
			chart("Latest failures", "table",
				fmt.Sprintf("%s: %s | select from_unixtime(__time__) as at, %s, %s, %s, %s, %s, %s, %s order by __time__ desc limit 100",
					KeyResult, ResultFailed, KeyFunction, KeyAction, KeyRegion, KeyInstance, KeyImage, KeyErrorCode, ContentMsg),
				day, 0, 10, 10, 6, nil, nil),
		},
	}
}

// AlertConfig is the alert on failed backups: any record with result: failed in the last
// 15 minutes, evaluated every 5 minutes, through SLS's built-in dynamic alert policy.
func AlertConfig(project, logstore, region, name, dashboard string) *sls.Alert {
	return &sls.Alert{
		Name:        name,
		DisplayName: "ECS image DR: failed operations",
		Description: "Fires when a function of ECS image disaster recovery logs result: failed",
		Schedule:    &sls.Schedule{Type: sls.ScheduleTypeFixedRate, Interval: "5m"},
		Configuration: &sls.AlertConfiguration{
			Version: "2.0", Type: "default", Dashboard: dashboard,
			QueryList: []*sls.AlertQuery{{
				Query: FailedQuery,
				Start: "-15m", End: "now", TimeSpanType: "Custom",
				StoreType: sls.StoreTypeLog, Store: logstore, Project: project, Region: region,
				PowerSqlMode: sls.PowerSqlModeAuto,
			}},
			// One notification per (function, region, error code).
			GroupConfiguration: sls.GroupConfiguration{Type: sls.GroupTypeCustom, Fields: []string{KeyFunction, KeyRegion, KeyErrorCode}},
			SeverityConfigurations: []*sls.SeverityConfiguration{{
				Severity:      sls.High,
				EvalCondition: sls.ConditionConfiguration{Condition: "failed > 0"},
			}},
			Threshold: 1,
			Labels:    []*sls.Tag{{Key: "product", Value: "ecs-image-dr"}},
			Annotations: []*sls.Tag{
				{Key: "title", Value: "ECS image DR: ${failed} failed ${function} operations in ${region} (${error_code}) in 15 minutes"},
				{Key: "desc", Value: "Query " + logstore + " for result: failed to see which instances, regions and error codes."},
			},
			AutoAnnotation:      true,
			SendResolved:        true,
			PolicyConfiguration: sls.PolicyConfiguration{AlertPolicyId: "sls.builtin.dynamic", ActionPolicyId: DefaultActionPolicy, RepeatInterval: "1h"},
		},
	}
}

// DefaultActionPolicy is the alert action policy name the alerts notify through.
const DefaultActionPolicy = "ecs-image-dr-notify"

// FailedQuery counts failed records per function, region and error code.
var FailedQuery = fmt.Sprintf("%s: %s | select %s, %s, %s, count(1) as failed group by %s, %s, %s",
	KeyResult, ResultFailed, KeyFunction, KeyRegion, KeyErrorCode, KeyFunction, KeyRegion, KeyErrorCode)

// HeartbeatQuery counts the successful runs of each timer-driven function (their
// "invocation done" record) in the window; one row. rds-offsite (every 6h) and dr-drill
// (every 10 min) run far more often than the 26h window, so silence there is certain.
var HeartbeatQuery = fmt.Sprintf(`%[1]s: "invocation done" and %[2]s: %[3]s | select `+
	`count_if(%[4]s = 'create-image') as create_ok, count_if(%[4]s = 'copy-image') as copy_ok, count_if(%[4]s = 'cleanup') as cleanup_ok, `+
	`count_if(%[4]s = 'rds-offsite') as offsite_ok, count_if(%[4]s = 'dr-drill') as drill_ok`,
	ContentMsg, KeyResult, ResultOK, KeyFunction)

// HeartbeatAlertConfig fires when a function had no successful run within its period
// (daily timers) plus a 2-hour margin: a stopped timer, a broken role or a crash loop
// makes no "failed" record, only silence.
func HeartbeatAlertConfig(project, logstore, region, name, actionPolicy string) *sls.Alert {
	return &sls.Alert{
		Name:        name,
		DisplayName: "ECS image DR: a function stopped succeeding",
		Description: "Fires when create-image, copy-image, cleanup, rds-offsite or dr-drill logged no successful run in 26 hours",
		Schedule:    &sls.Schedule{Type: sls.ScheduleTypeFixedRate, Interval: "1h"},
		Configuration: &sls.AlertConfiguration{
			Version: "2.0", Type: "default",
			QueryList: []*sls.AlertQuery{{
				Query: HeartbeatQuery, Start: "-26h", End: "now", TimeSpanType: "Custom",
				StoreType: sls.StoreTypeLog, Store: logstore, Project: project, Region: region,
				PowerSqlMode: sls.PowerSqlModeAuto,
			}},
			GroupConfiguration: sls.GroupConfiguration{Type: sls.GroupTypeNoGroup},
			SeverityConfigurations: []*sls.SeverityConfiguration{{
				Severity:      sls.High,
				EvalCondition: sls.ConditionConfiguration{Condition: "create_ok < 1 || copy_ok < 1 || cleanup_ok < 1 || offsite_ok < 1 || drill_ok < 1"},
			}},
			Threshold: 1,
			Labels:    []*sls.Tag{{Key: "product", Value: "ecs-image-dr"}},
			Annotations: []*sls.Tag{
				{Key: "title", Value: "ECS image DR: no successful run in 26h (create ${create_ok}, copy ${copy_ok}, cleanup ${cleanup_ok}, rds-offsite ${offsite_ok}, dr-drill ${drill_ok})"},
			},
			SendResolved:        true,
			PolicyConfiguration: sls.PolicyConfiguration{AlertPolicyId: "sls.builtin.dynamic", ActionPolicyId: actionPolicy, RepeatInterval: "6h"},
		},
	}
}
