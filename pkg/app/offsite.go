package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/catalog"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ossx"
	"github.com/ecsdr/ecs-image-dr/pkg/cloud/rdsx"
	"github.com/ecsdr/ecs-image-dr/pkg/events"
	"github.com/ecsdr/ecs-image-dr/pkg/offsite"
	"github.com/ecsdr/ecs-image-dr/pkg/policy"
)

// RDSOffsite copies RDS backup files to OSS in the DR region (timer).
const RDSOffsite Function = "rds-offsite"

// EnvRDSEndpoint is host[:port] of the RDS API for every region (default: the SDK's
// regional endpoints); the scheme is DR_ECS_SCHEME's.
const EnvRDSEndpoint = "DR_RDS_ENDPOINT"

// maxMargin is the most rds-offsite keeps before the FC deadline: enough to finish the
// part in flight at a few MB/s, log and flush. Short invocations keep a quarter.
const maxMargin = 30 * time.Second

// offsite runs rds-offsite for one timer invocation.
func (h *Handler) offsite(ctx context.Context, inv Invocation, pol *policy.Policy, timer *events.TimerEvent, res *Result, log *slog.Logger) (*Result, error) {
	if pol.RDS == nil {
		res.Note = "the policy has no rds section: nothing to copy"
		log.Warn(res.Note, "action", "offsite", "result", offsite.ResultSkipped)
		return res, nil
	}
	rc, err := rdsx.New(rdsx.Config{
		Endpoint: strings.TrimSpace(h.getenv(EnvRDSEndpoint)), Scheme: h.cfg.ECSScheme, Intranet: pol.RDS.Intranet,
		Credentials: func() (string, string, string) {
			return inv.Creds.AccessKeyID, inv.Creds.AccessKeySecret, inv.Creds.SecurityToken
		},
	})
	if err != nil {
		return res, err
	}
	dest := pol.RDS.Destination.Region
	store, err := ossx.NewMultipart(h.cfg.OSSEndpointFor(dest), inv.Creds.AccessKeyID, inv.Creds.AccessKeySecret, inv.Creds.SecurityToken)
	if err != nil {
		return res, err
	}
	catStore, err := ossx.New(h.cfg.OSSEndpointFor(dest), inv.Creds.AccessKeyID, inv.Creds.AccessKeySecret, inv.Creds.SecurityToken)
	if err != nil {
		return res, err
	}
	now := invocationTime(timer, nil, h.opts.Clock.Now().UTC())
	d := offsite.Deps{
		RDS: rc, Store: store, Policy: pol, Log: log,
		Catalog: catalog.NewWriter(catStore, pol.CatalogBucket(dest), log),
		Now:     func() time.Time { return now },
	}
	if dl, ok := ctx.Deadline(); ok {
		d.Deadline = dl
		d.Margin = min(maxMargin, time.Until(dl)/4)
	}
	sum, err := d.Run(ctx)
	res.Offsite = &sum
	if err != nil {
		return res, err
	}
	if sum.Retryable() {
		return res, fmt.Errorf("offsite: %d failures, some retryable", len(sum.Failed))
	}
	return res, nil
}
