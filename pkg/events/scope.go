package events

import (
	"errors"
	"fmt"
)

// ErrOutsideScope: an image event from a region other than the one a region-scoped
// deployment (the event receiver of one source region, s.receiver.yaml) acts on.
var ErrOutsideScope = errors.New("event region outside this deployment's region scope")

// CheckScope returns nil when scope is empty (the main stack: every region) or e's region
// is scope, else an error wrapping ErrOutsideScope. EventBridge rules are regional, so an
// event from another region reaching a receiver is misrouted or forged, never work to do.
func CheckScope(e ImageEvent, scope string) error {
	if scope == "" || e.Region == scope {
		return nil
	}
	return fmt.Errorf("event %s: %w: %q, this deployment acts on %q only", e.ID, ErrOutsideScope, e.Region, scope)
}
