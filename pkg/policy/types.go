// Package policy is the DR policy document: what is protected, where copies go, how images
// are named and tagged, and what is kept. Load parses YAML or JSON; Validate names every
// bad field.
//
// Field paths in errors use the JSON/YAML names with zero-based indexes, e.g.
// `sources[1].region` or `destinations[0].retention.keepLast`.
package policy

// Policy is one DR policy document.
type Policy struct {
	// Name identifies the policy; it is written into every image's tags (TagPolicy) and is
	// part of the default catalog bucket name. Required; 2–64 characters: letters, digits,
	// '-' and '_'. Keep it lower-case if you rely on the default catalogBucket (OSS bucket
	// names are lower-case).
	Name string `json:"name" yaml:"name"`
	// Timezone (IANA name, e.g. "Asia/Shanghai") in which schedule slots and the
	// daily/weekly/monthly retention tiers are computed. Default "UTC". "Local" is refused:
	// it would depend on the machine the function happens to run on.
	Timezone string `json:"timezone,omitempty" yaml:"timezone,omitempty"`
	// SlotInterval is the schedule granularity as a Go duration ("24h" default, "1h", "12h").
	// It must be at least 1h and divide 24h, so slots start at the same wall-clock times
	// every day. One image per instance per slot; the slot is part of the ClientToken and
	// the name, so a retried or duplicated timer makes no second image.
	SlotInterval string `json:"slotInterval,omitempty" yaml:"slotInterval,omitempty"`
	// Sources: per source region, what is protected. At least one; each region once.
	Sources []Source `json:"sources" yaml:"sources"`
	// Destinations: the DR regions copies go to. At least one; each region once, and never
	// a source region.
	Destinations []Destination `json:"destinations" yaml:"destinations"`
	// Naming of images.
	Naming Naming `json:"naming,omitempty" yaml:"naming,omitempty"`
	// Tags added to every image the policy makes (source images and copies). ECS allows 20
	// tags per image and the policy adds up to 7 of its own (keys "ecs-dr:*", reserved), so
	// at most 13 here. Keys: 1–128 characters, not starting with "aliyun" or "acs:", no
	// "http://"/"https://"; values: at most 128 characters, not starting with "acs:".
	Tags map[string]string `json:"tags,omitempty" yaml:"tags,omitempty"`
	// Retention per region kind. Each rule must keep something.
	Retention Retention `json:"retention" yaml:"retention"`
	// DryRun: log the exact actions, change nothing.
	DryRun bool `json:"dryRun,omitempty" yaml:"dryRun,omitempty"`
	// RDS: ApsaraDB RDS backups copied to OSS in a DR region (optional; rds.go).
	RDS *RDS `json:"rds,omitempty" yaml:"rds,omitempty"`
	// Concurrency bounds parallel ECS calls per function: 1–32, default 4. CopyImage runs
	// at most 5 tasks per region anyway; the rest queue in ECS as Waiting.
	Concurrency int `json:"concurrency,omitempty" yaml:"concurrency,omitempty"`
	// RateLimits paces ECS calls on the client, in calls per second per region and action
	// (e.g. CreateImage: 20); actions left out take the documented defaults (see
	// ratelimits.go). Each region has its own budget, as ECS flow control does.
	RateLimits map[string]float64 `json:"rateLimits,omitempty" yaml:"rateLimits,omitempty"`
	// RPOTarget is the largest acceptable data age of the newest restorable image per
	// instance and DR region, as a Go duration (e.g. "26h" for a daily slot); the RPO
	// monitor alerts beyond it. Empty: no target. NetworkMap (per DR region) and Drill are
	// the restore side (restore.go).
	RPOTarget  string                `json:"rpoTarget,omitempty" yaml:"rpoTarget,omitempty"`
	NetworkMap map[string]NetworkMap `json:"networkMap,omitempty" yaml:"networkMap,omitempty"`
	Drill      *Drill                `json:"drill,omitempty" yaml:"drill,omitempty"`
}

// Source is one source region and its selection.
type Source struct {
	// Region is the ECS region id of the protected instances, e.g. "cn-hangzhou".
	Region string `json:"region" yaml:"region"`
	// InstanceIDs protected explicitly ("i-…").
	InstanceIDs []string `json:"instanceIds,omitempty" yaml:"instanceIds,omitempty"`
	// Selectors: an instance matches a selector when it has every tag of it (AND);
	// it is protected when it matches any selector (OR). A value "*" matches any value.
	// A selector with no tags is refused: it would select every instance of the region.
	Selectors []map[string]string `json:"selectors,omitempty" yaml:"selectors,omitempty"`
	// Exclude wins over InstanceIDs and Selectors.
	Exclude Exclude `json:"exclude,omitempty" yaml:"exclude,omitempty"`
}

// Exclude lists instances never protected.
type Exclude struct {
	// InstanceIDs never protected, even when listed in Source.InstanceIDs.
	InstanceIDs []string `json:"instanceIds,omitempty" yaml:"instanceIds,omitempty"`
	// Tags: an instance having any of these key=value pairs is excluded ("*" = any value).
	Tags map[string]string `json:"tags,omitempty" yaml:"tags,omitempty"`
}

// Destination is one DR region.
type Destination struct {
	// Region is the ECS region id copies go to. Must not be a source region.
	Region string `json:"region" yaml:"region"`
	// Encrypted makes CopyImage encrypt the copy (with KMSKeyID, or the region's service
	// key when KMSKeyID is empty).
	Encrypted bool `json:"encrypted,omitempty" yaml:"encrypted,omitempty"`
	// KMSKeyID is the KMS key in the destination region; only valid with Encrypted (ECS
	// answers InvalidParameter.EncryptedIllegal otherwise).
	KMSKeyID string `json:"kmsKeyId,omitempty" yaml:"kmsKeyId,omitempty"`
	// Retention overrides Retention.Destination for this region.
	Retention *RetentionRule `json:"retention,omitempty" yaml:"retention,omitempty"`
	// Backfill is how many of an instance's newest Available source images are copied to
	// this region when it has no copy of that instance yet (a new destination, a first
	// deploy over existing images). Default 1: only the newest. More is capped by what this
	// region's retention keeps (see Policy.BackfillLimit).
	Backfill int `json:"backfill,omitempty" yaml:"backfill,omitempty"`
	// CatalogBucket is the OSS bucket (in this region) holding the DR catalog.
	// Default "<policy name>-dr-catalog-<region>", lower-cased (use Policy.CatalogBucket); either way it
	// must be a valid OSS bucket name (3–63 characters: a-z, 0-9, '-', not starting or
	// ending with '-').
	CatalogBucket string `json:"catalogBucket,omitempty" yaml:"catalogBucket,omitempty"`
}

// Naming holds the image name template.
type Naming struct {
	// Template of image names. Placeholders: {policy} {instanceId} {instanceName}
	// {region} {slot} {date} {time} ({date} and {time} are the slot's day "20261123" and
	// start "0200", "0000" for daily slots). It must contain {instanceId} and {slot} so
	// that every instance and slot gets its own name. Default "dr-{instanceId}-{slot}".
	// The rendered name is sanitised into a valid ECS image name (2–128 chars, starts with
	// a letter, [A-Za-z0-9.:_-], no "aliyun"/"acs:" prefix, no "http://"/"https://");
	// a name longer than 128 is cut and ends with a hash that keeps it unique.
	Template string `json:"template,omitempty" yaml:"template,omitempty"`
}

// Retention says what is kept, per region kind.
type Retention struct {
	// Source applies in every source region.
	Source RetentionRule `json:"source" yaml:"source"`
	// Destination applies in every destination region without its own retention.
	Destination RetentionRule `json:"destination" yaml:"destination"`
}

// RetentionRule: an image is kept when any rule keeps it (union). Evaluated at cleanup
// time, per instance and region, in the policy timezone. The newest Available image of an
// instance in a region is always kept, whatever the rule says; so are images in use,
// images still Creating/Waiting and the source of a copy in progress. Counts must not be
// negative and at least one must be positive.
type RetentionRule struct {
	// KeepLast keeps the newest N Available images.
	KeepLast int `json:"keepLast,omitempty" yaml:"keepLast,omitempty"`
	// KeepDays keeps images younger than D×24h at cleanup time.
	KeepDays int `json:"keepDays,omitempty" yaml:"keepDays,omitempty"`
	// Daily keeps the newest Available image of each of the last N days that have one.
	Daily int `json:"daily,omitempty" yaml:"daily,omitempty"`
	// Weekly keeps the newest Available image of each of the last N ISO weeks
	// (Monday–Sunday) that have one.
	Weekly int `json:"weekly,omitempty" yaml:"weekly,omitempty"`
	// Monthly keeps the newest Available image of each of the last N calendar months that
	// have one.
	Monthly int `json:"monthly,omitempty" yaml:"monthly,omitempty"`
}
