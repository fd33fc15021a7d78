package ecsx

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
)

// ServerClock reads the cloud's clock: the Date header of an ECS response.
type ServerClock interface {
	ServerTime(ctx context.Context, region string) (time.Time, error)
}

// ServerTime makes one small read (the first page, of one item, of the policy-free
// DescribeSnapshots listing filtered by a tag nobody has) and returns the response's Date
// (second precision). The functions hold payload times to it: it is the clock of the
// cloud the decisions are about, and on the local cloud the simulated clock.
func (a *sdkAPI) ServerTime(ctx context.Context, region string) (time.Time, error) {
	const op = "DescribeSnapshots"
	c, release, err := a.preparePaced(ctx, region, op)
	if err != nil {
		return time.Time{}, &Error{Op: op, Region: region, Err: err}
	}
	defer release()
	req := ecs.CreateDescribeSnapshotsRequest()
	req.RegionId = region
	req.PageSize = requests.NewInteger(1)
	req.Tag = &[]ecs.DescribeSnapshotsTag{{Key: "ecs-dr:clock", Value: "probe"}}
	resp, err := c.DescribeSnapshots(req)
	if err != nil {
		return time.Time{}, wrap(op, "", region, err)
	}
	for k, v := range resp.GetHttpHeaders() {
		if http.CanonicalHeaderKey(k) == "Date" && len(v) > 0 {
			t, err := http.ParseTime(v[0])
			if err != nil {
				return time.Time{}, &Error{Op: op, Region: region, Err: err}
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, &Error{Op: op, Region: region, Err: errors.New("response has no Date header")}
}
