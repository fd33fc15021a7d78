package backup

import (
	"context"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
)

// imageUses lists, per region, what uses each image: "region/image id" → the first user
// found ("instance i-…", "launch template … version N", "scaling configuration …").
// A region whose users could not all be listed is returned in unknown with the error and
// recorded as failed: cleanup deletes nothing there, since any of its images may be in use.
func (r *run) imageUses(ctx context.Context, regions []string, c *collector) (inUse map[string]string, unknown map[string]error) {
	users := r.Users
	if users == nil {
		users = ecsx.InstanceUsers(r.ecs) // r.ecs already retries
	} else {
		rc := r.Retry
		if r.Sleep != nil {
			rc.Sleep = r.Sleep
		}
		users = ecsx.WithUsersRetry(users, rc)
	}
	inUse, unknown = map[string]string{}, map[string]error{}
	for _, region := range regions {
		started := time.Now()
		uses, err := users.ImageUses(ctx, region)
		if err != nil {
			unknown[region] = err
			it := failure(Item{Region: region}, err)
			it.Reason = "users of images (instances, launch templates, scaling configurations) not listed, no deletion in this region: " + err.Error()
			r.fail(ctx, c, "list-users", it, err, started)
			continue
		}
		for _, u := range uses {
			k := region + "/" + u.ImageID
			if inUse[k] == "" {
				inUse[k] = u.User
			}
		}
	}
	return inUse, unknown
}
