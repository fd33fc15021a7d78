package backup

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"sync"
	"time"

	"github.com/ecsdr/ecs-image-dr/pkg/cloud/ecsx"
	"github.com/ecsdr/ecs-image-dr/pkg/events"
	"github.com/ecsdr/ecs-image-dr/pkg/retention"
)

// Deadline-aware runs: an invocation works under its soft deadline (the FC deadline minus
// a margin). Past it, the services start no new item (an instance to image, an image to
// copy or delete): what is under way finishes, what was not started is counted, and the
// invocation has the margin to record that summary and flush its records. Because every
// step is idempotent and found again from tags, the remainder is picked up by the next
// invocation (FC's retry of the failed invocation, or the next timer) with no duplicate
// and no gap.

type softKey struct{}

type softDeadline struct {
	at  time.Time
	now func() time.Time

	mu   sync.Mutex
	left map[string]int
}

// WithSoftDeadline returns ctx carrying the soft deadline at, read on now (nil: time.Now).
func WithSoftDeadline(ctx context.Context, at time.Time, now func() time.Time) context.Context {
	if now == nil {
		now = time.Now
	}
	return context.WithValue(ctx, softKey{}, &softDeadline{at: at, now: now})
}

// SoftDeadline reports the soft deadline ctx carries (on the clock given to
// WithSoftDeadline); ok is false when it carries none.
func SoftDeadline(ctx context.Context) (at time.Time, ok bool) {
	sd, _ := ctx.Value(softKey{}).(*softDeadline)
	if sd == nil {
		return time.Time{}, false
	}
	return sd.at, true
}

// Remaining reports, by kind of item, what the services did not start because the soft
// deadline had passed; nil when everything was started.
func Remaining(ctx context.Context) map[string]int {
	sd, _ := ctx.Value(softKey{}).(*softDeadline)
	if sd == nil {
		return nil
	}
	sd.mu.Lock()
	defer sd.mu.Unlock()
	if len(sd.left) == 0 {
		return nil
	}
	return maps.Clone(sd.left)
}

// RemainingError is the invocation's error when work remains: retryable, so FC runs it
// again and the next run continues where this one stopped.
func RemainingError(left map[string]int) error {
	if len(left) == 0 {
		return nil
	}
	return fmt.Errorf("deadline: stopped before starting %v; the next run continues", left)
}

// pastSoft reports whether ctx's soft deadline has passed.
func pastSoft(ctx context.Context) (*softDeadline, bool) {
	sd, _ := ctx.Value(softKey{}).(*softDeadline)
	if sd == nil {
		return nil, false
	}
	return sd, !sd.now().Before(sd.at)
}

func (sd *softDeadline) notStarted(kind string, n int) {
	sd.mu.Lock()
	defer sd.mu.Unlock()
	if sd.left == nil {
		sd.left = map[string]int{}
	}
	sd.left[kind] += n
}

// kindOf names what each() works on, for the remaining-work summary. The services' work
// items are often local job structs, so they are recognised by what they carry.
func kindOf(v any) string {
	switch v.(type) {
	case ecsx.Instance:
		return "instances to image"
	case events.ImageEvent:
		return "image events"
	case retention.Decision:
		return "images to delete"
	case ecsx.Image:
		return "images to check"
	case pendingGroup:
		return "images to copy"
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice && rv.Len() > 0 {
		rv = rv.Index(0)
	}
	if rv.Kind() == reflect.Struct {
		for i := range rv.NumField() {
			switch rv.Field(i).Type() {
			case reflect.TypeFor[ecsx.Instance](), reflect.TypeFor[*ecsx.Instance]():
				return "instances to image"
			case reflect.TypeFor[ecsx.Image]():
				return "images to copy"
			}
		}
	}
	return "items"
}
