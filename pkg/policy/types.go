// Package policy is the DR policy document: what is protected, where copies go, how images
// are named and tagged, and what is kept. Load parses YAML or JSON; Validate names every
// bad field.
package policy

// Policy is one DR policy document.
type Policy struct {
	// Name identifies the policy; it is written into every image's tags (2–64 chars,
	// letters, digits, '-', '_').
	Name string `json:"name" yaml:"name"`
	// Timezone (IANA) in which schedule slots and daily/weekly/monthly tiers are computed.
	// Default "UTC".
	Timezone string `json:"timezone,omitempty" yaml:"timezone,omitempty"`
	// SlotInterval is the schedule granularity as a Go duration ("24h" default, "1h", "12h").
	// One image per instance per slot; the slot is part of the ClientToken and the name.
	SlotInterval string `json:"slotInterval,omitempty" yaml:"slotInterval,omitempty"`
	// Sources: per source region, what is protected.
	Sources []Source `json:"sources" yaml:"sources"`
	// Destinations: the DR regions copies go to.
	Destinations []Destination `json:"destinations" yaml:"destinations"`
	// Naming of images.
	Naming Naming `json:"naming,omitempty" yaml:"naming,omitempty"`
	// Tags added to every image the policy makes (source images and copies).
	Tags map[string]string `json:"tags,omitempty" yaml:"tags,omitempty"`
	// Retention per region kind.
	Retention Retention `json:"retention" yaml:"retention"`
	// DryRun: log the exact actions, change nothing.
	DryRun bool `json:"dryRun,omitempty" yaml:"dryRun,omitempty"`
	// Concurrency bounds parallel ECS calls per function (default 4).
	Concurrency int `json:"concurrency,omitempty" yaml:"concurrency,omitempty"`
}

// Source is one source region and its selection.
type Source struct {
	Region string `json:"region" yaml:"region"`
	// InstanceIDs protected explicitly.
	InstanceIDs []string `json:"instanceIds,omitempty" yaml:"instanceIds,omitempty"`
	// Selectors: an instance matches a selector when it has every tag of it (AND);
	// it is protected when it matches any selector (OR). A value "*" matches any value.
	Selectors []map[string]string `json:"selectors,omitempty" yaml:"selectors,omitempty"`
	// Exclude wins over InstanceIDs and Selectors.
	Exclude Exclude `json:"exclude,omitempty" yaml:"exclude,omitempty"`
}

// Exclude lists instances never protected.
type Exclude struct {
	InstanceIDs []string `json:"instanceIds,omitempty" yaml:"instanceIds,omitempty"`
	// Tags: an instance having any of these key=value pairs is excluded ("*" = any value).
	Tags map[string]string `json:"tags,omitempty" yaml:"tags,omitempty"`
}

// Destination is one DR region.
type Destination struct {
	Region    string `json:"region" yaml:"region"`
	Encrypted bool   `json:"encrypted,omitempty" yaml:"encrypted,omitempty"`
	KMSKeyID  string `json:"kmsKeyId,omitempty" yaml:"kmsKeyId,omitempty"`
	// Retention overrides Retention.Destination for this region.
	Retention *RetentionRule `json:"retention,omitempty" yaml:"retention,omitempty"`
	// CatalogBucket is the OSS bucket (in this region) holding the DR catalog.
	// Default "<policy name>-dr-catalog-<region>".
	CatalogBucket string `json:"catalogBucket,omitempty" yaml:"catalogBucket,omitempty"`
}

// Naming holds the image name template. Placeholders: {policy} {instanceId}
// {instanceName} {region} {slot} {date} {time}. The rendered name is sanitised into a
// valid ECS image name (2–128 chars, starts with a letter, [A-Za-z0-9.:_-], no
// "aliyun"/"acs:" prefix, no "http://"/"https://").
type Naming struct {
	Template string `json:"template,omitempty" yaml:"template,omitempty"`
}

// Retention says what is kept, per region kind.
type Retention struct {
	Source      RetentionRule `json:"source" yaml:"source"`
	Destination RetentionRule `json:"destination" yaml:"destination"`
}

// RetentionRule: an image is kept when any rule keeps it (union). Evaluated at cleanup
// time, per instance and region, in the policy timezone. The newest Available image of an
// instance in a region is always kept, whatever the rule says.
type RetentionRule struct {
	KeepLast int `json:"keepLast,omitempty" yaml:"keepLast,omitempty"` // newest N Available images
	KeepDays int `json:"keepDays,omitempty" yaml:"keepDays,omitempty"` // images younger than D days
	Daily    int `json:"daily,omitempty" yaml:"daily,omitempty"`       // newest image of each of the last N days that have one
	Weekly   int `json:"weekly,omitempty" yaml:"weekly,omitempty"`     // … of the last N ISO weeks that have one
	Monthly  int `json:"monthly,omitempty" yaml:"monthly,omitempty"`   // … of the last N months that have one
}
