package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"

	// Function Compute runtimes are not guaranteed to ship /usr/share/zoneinfo; without
	// the embedded database every non-UTC policy would fail to load there.
	_ "time/tzdata"
)

var locations sync.Map // name -> *time.Location; LoadLocation parses tzdata on every call

func loadLocation(name string) (*time.Location, error) {
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.Store(name, l)
	return l, nil
}

// Location is the policy timezone; UTC when Timezone is empty or invalid (Validate
// reports the latter).
func (p *Policy) Location() *time.Location {
	if p.Timezone == "" || p.Timezone == "Local" {
		return time.UTC
	}
	l, err := loadLocation(p.Timezone)
	if err != nil {
		return time.UTC
	}
	return l
}

// Interval is the parsed SlotInterval; 24h when it is empty or invalid (Validate reports
// the latter).
func (p *Policy) Interval() time.Duration {
	d, err := time.ParseDuration(p.SlotInterval)
	if err != nil || d < time.Hour || (24*time.Hour)%d != 0 {
		return 24 * time.Hour
	}
	return d
}

// Slot names the schedule slot containing t, in the policy timezone: "20261123" for a
// 24h interval, "20261123T0200" (the slot's start) for shorter ones. Slots are cut on the
// local wall clock from midnight, so across a DST change two instants an hour apart can
// share a slot, which only means one image rather than two.
func (p *Policy) Slot(t time.Time) string {
	lt := t.In(p.Location())
	day := lt.Format("20060102")
	d := p.Interval()
	if d >= 24*time.Hour {
		return day
	}
	secs := lt.Hour()*3600 + lt.Minute()*60 + lt.Second()
	start := secs - secs%int(d/time.Second)
	return fmt.Sprintf("%sT%02d%02d", day, start/3600, start%3600/60)
}

// ImageName renders Naming.Template for one instance and slot and sanitises the result
// into a valid ECS image name (ValidImageName holds for every input). Characters outside
// [A-Za-z0-9.:_-] become '-'; a name not starting with a letter, or starting with
// "aliyun"/"acs:" (any case), gets the prefix "dr-"; a name over 128 characters is cut
// and ends with "-" and a hash of instance, slot and the full name, so it stays unique
// per instance and slot.
func (p *Policy) ImageName(instanceID, instanceName, region, slot string) string {
	date, tm, _ := strings.Cut(slot, "T")
	if tm == "" {
		tm = "0000"
	}
	tmpl := p.Naming.Template
	if tmpl == "" {
		tmpl = DefaultTemplate
	}
	raw := strings.NewReplacer(
		"{policy}", p.Name,
		"{instanceId}", instanceID,
		"{instanceName}", instanceName,
		"{region}", region,
		"{slot}", slot,
		"{date}", date,
		"{time}", tm,
	).Replace(tmpl)
	return sanitizeName(raw, instanceID+"\x00"+slot)
}

// CopyName is the name of the copy of sourceName in destRegion: the source name itself,
// sanitised. The instance id and slot in it already make it unique in every region (a
// destination is never a source region), and a restore in the DR region finds the same
// name as at home.
func (p *Policy) CopyName(sourceName, destRegion string) string {
	return sanitizeName(sourceName, sourceName+"\x00"+destRegion)
}

const (
	maxNameLen  = 128
	namePrefix  = "dr-"
	nameHashLen = 10
)

func sanitizeName(raw, uniq string) string {
	b := make([]byte, 0, len(raw)+len(namePrefix))
	for _, r := range raw {
		if r < unicode.MaxASCII && nameChar(r) {
			b = append(b, byte(r))
		} else {
			b = append(b, '-')
		}
	}
	s := string(b)
	if len(s) < 2 || !asciiLetter(rune(s[0])) || reservedNamePrefix(s) {
		s = namePrefix + s
	}
	if len(s) > maxNameLen {
		sum := sha256.Sum256([]byte(uniq + "\x00" + raw))
		s = s[:maxNameLen-nameHashLen-1] + "-" + hex.EncodeToString(sum[:])[:nameHashLen]
	}
	return s
}

// ValidImageName applies the ECS image name rule (CreateImage, CopyImage,
// ModifyImageAttribute): 2–128 characters, starting with a letter (English or Chinese),
// then letters, digits, '.', ':', '_', '-'; no "http://"/"https://"; not starting with
// "aliyun" or "acs:". The prefixes are checked in any case, stricter than ECS may be, so
// names we make never depend on how ECS compares them.
func ValidImageName(name string) error {
	runes := []rune(name)
	lower := strings.ToLower(name)
	switch {
	case len(runes) < 2 || len(runes) > maxNameLen:
		return fmt.Errorf("image name %q: must be 2-128 characters, got %d", name, len(runes))
	case !nameLetter(runes[0]):
		return fmt.Errorf("image name %q: must start with a letter", name)
	case reservedNamePrefix(name):
		return fmt.Errorf("image name %q: must not start with \"aliyun\" or \"acs:\"", name)
	case strings.Contains(lower, "http://") || strings.Contains(lower, "https://"):
		return fmt.Errorf("image name %q: must not contain \"http://\" or \"https://\"", name)
	}
	for i, r := range runes {
		if !nameLetter(r) && !nameChar(r) {
			return fmt.Errorf("image name %q: character %q at %d is not a letter, digit, '.', ':', '_' or '-'", name, r, i)
		}
	}
	return nil
}

func reservedNamePrefix(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "aliyun") || strings.HasPrefix(l, "acs:")
}

func asciiLetter(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }

func nameLetter(r rune) bool { return asciiLetter(r) || unicode.Is(unicode.Han, r) }

func nameChar(r rune) bool {
	return asciiLetter(r) || r >= '0' && r <= '9' || r == '.' || r == ':' || r == '_' || r == '-'
}

// ClientToken is the CreateImage idempotency token of one instance and slot: a hash of
// policy, instance and slot, 43 ASCII characters (ECS allows 64). A retried timer or a
// second invocation for the same slot sends the same token and gets the same image.
// (CopyImage has no ClientToken in the pinned SDK; copies are made idempotent by their
// lineage tags instead.)
func (p *Policy) ClientToken(instanceID, slot string) string {
	return token("create", p.Name, instanceID, slot)
}

func token(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "dr-" + hex.EncodeToString(sum[:20])
}
