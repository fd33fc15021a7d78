package events

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
)

// Reasons Filter.Check rejects an event; test with errors.Is.
var (
	ErrForeignAccount   = errors.New("event from a foreign account")
	ErrUnexpectedSource = errors.New("unexpected event source")
	ErrUnexpectedType   = errors.New("unexpected event type")
	ErrInvalidImage     = errors.New("event names no valid image")
	ErrInvalidRegion    = errors.New("event names no valid region")
)

// imageIDRE is what an ECS image id looks like ("m-" then letters and digits). Anything
// else in an event is forged or broken and must not reach an ECS call.
var (
	imageIDRE = regexp.MustCompile(`^m-[A-Za-z0-9]{1,64}$`)
	regionRE  = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+){1,4}$`)
)

// Filter says which image events the product acts on. Events that fail are not errors of
// the invocation: the caller logs and acknowledges them.
type Filter struct {
	// AccountID is the only account accepted (aliyunaccountid). Empty accepts any account:
	// set it in production, the FC context carries it.
	AccountID string
	// AcceptedTypes: event types acted on, exact or a prefix ending with '*'; empty means
	// DefaultTypes (both families of image events).
	AcceptedTypes []string
	// Sources: event sources accepted; empty means acs.ecs.
	Sources []string
}

// Check returns nil when e is acted on, else an error wrapping one of the Err* reasons.
func (f Filter) Check(e ImageEvent) error {
	sources := f.Sources
	if len(sources) == 0 {
		sources = []string{SourceECS}
	}
	types := f.AcceptedTypes
	if len(types) == 0 {
		types = DefaultTypes
	}
	switch {
	case f.AccountID != "" && e.AccountID != f.AccountID:
		return fmt.Errorf("event %s: %w: %q, want %q", e.ID, ErrForeignAccount, e.AccountID, f.AccountID)
	case !slices.Contains(sources, e.Source):
		return fmt.Errorf("event %s: %w: %q", e.ID, ErrUnexpectedSource, e.Source)
	case !typeMatches(types, e.Type):
		return fmt.Errorf("event %s: %w: %q", e.ID, ErrUnexpectedType, e.Type)
	case !imageIDRE.MatchString(e.ImageID):
		return fmt.Errorf("event %s: %w: %q", e.ID, ErrInvalidImage, e.ImageID)
	case !regionRE.MatchString(e.Region):
		return fmt.Errorf("event %s: %w: %q", e.ID, ErrInvalidRegion, e.Region)
	}
	return nil
}
