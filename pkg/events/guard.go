package events

import (
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
)

// Payload checks run before any parsing: a payload that fails one is rejected with a
// specific record and changes nothing. Test with errors.Is; every one also wraps
// ErrMalformed.
var (
	ErrTooLarge    = errors.New("payload too large")
	ErrTooDeep     = errors.New("payload nested too deeply")
	ErrInvalidUTF8 = errors.New("payload is not valid UTF-8")
	// ErrRegionNotInPolicy: an image event from a region the policy names neither as a
	// source nor as a destination (CheckRegion).
	ErrRegionNotInPolicy = errors.New("event region not in the policy")
)

const (
	// MaxPayloadBytes bounds a payload: FC's asynchronous invocations (timers and
	// EventBridge) carry at most 128 KB, and a batch of image events is far smaller.
	MaxPayloadBytes = 128 << 10
	// MaxDepth bounds JSON nesting: a CloudEvent with its data is 3 deep; 32 leaves room
	// for any honest payload and none for a parser-exhausting one.
	MaxDepth = 32
)

// CheckPayload returns nil for a payload that may be parsed, else an error wrapping
// ErrMalformed and one of ErrTooLarge, ErrInvalidUTF8, ErrTooDeep. It reads the bytes
// once and allocates nothing.
func CheckPayload(p []byte) error {
	if len(p) > MaxPayloadBytes {
		return fmt.Errorf("%w: %w: %d bytes, at most %d", ErrMalformed, ErrTooLarge, len(p), MaxPayloadBytes)
	}
	if !utf8.Valid(p) {
		i := 0
		for i < len(p) {
			r, n := utf8.DecodeRune(p[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return fmt.Errorf("%w: %w: invalid byte at offset %d", ErrMalformed, ErrInvalidUTF8, i)
	}
	depth, inString, escaped := 0, false, false
	for i, c := range p {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > MaxDepth {
				return fmt.Errorf("%w: %w: deeper than %d at offset %d", ErrMalformed, ErrTooDeep, MaxDepth, i)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// CheckRegion returns nil when the event's region is one of regions (the policy's source
// and destination regions), else an error wrapping ErrRegionNotInPolicy.
func CheckRegion(e ImageEvent, regions []string) error {
	if slices.Contains(regions, e.Region) {
		return nil
	}
	return fmt.Errorf("event %s: %w: %q (policy regions %v)", e.ID, ErrRegionNotInPolicy, e.Region, regions)
}
