package policy

// Tag keys that mark an image as ours and carry its lineage. Cleanup only ever considers
// images carrying TagManagedBy=ManagedByValue and TagPolicy=<policy name>.
const (
	TagManagedBy      = "ecs-dr:managed-by"      // always ManagedByValue
	TagPolicy         = "ecs-dr:policy"          // policy name
	TagSourceInstance = "ecs-dr:source-instance" // instance the image protects
	TagSlot           = "ecs-dr:slot"            // schedule slot, e.g. 20261123 or 20261123T0200
	TagRole           = "ecs-dr:role"            // RoleSource or RoleCopy
	TagSourceImage    = "ecs-dr:source-image"    // copies: the source image id (sources: own id is not tagged)
	TagSourceRegion   = "ecs-dr:source-region"   // region of the source instance / image
	// TagBucket is the shard bucket of the image's source instance (BucketOf: two digits,
	// 00..63). ECS cannot filter on a hash of a tag, so a shard's run lists the buckets of
	// its shard by this tag and reads only its own images (Shard.Buckets). It is set only
	// where the policy's tags leave room for it (Policy.BucketTags).
	TagBucket = "ecs-dr:bucket"
	// TagHold=HoldValue, set by an operator on any image of ours, keeps it from cleanup
	// whatever the retention rule says (a legal hold, an image under investigation, a
	// failover in progress). Remove the tag to let retention apply again.
	TagHold   = "ecs-dr:hold"
	HoldValue = "true"
	// TagAttempt is the attempt number (1, 2, …) of an image within its slot (sources) or of
	// a copy of its source (copies); absent means 1. A failed image is replaced by the next
	// attempt under a new name, so the count lives in the cloud, not in the function.
	TagAttempt = "ecs-dr:attempt"
	// TagDataTime is when the image's data was captured (RFC 3339, UTC): a copy carries its
	// source image's CreationTime, so "newest" means newest data, never newest copy.
	TagDataTime = "ecs-dr:data-time"
	// TagSnapshotOf marks a snapshot as ours: the id of the image it was made for. It is
	// set (with TagManagedBy and TagPolicy) before that image is deleted, so the snapshot
	// stays findable, and deletable, after the image is gone.
	TagSnapshotOf = "ecs-dr:snapshot-of"
	// TagFailureRecorded is set (to "true") on the last failed attempt of a slot once its
	// "retry budget used up" record is written, so that record is written once.
	TagFailureRecorded = "ecs-dr:failure-recorded"
	// TagPending is a work marker (level-triggered): a new source image carries
	// PendingCopy until every destination holds a copy of it (or newer data), or it will
	// never be copied; a new copy carries PendingCatalog until its catalog entry is
	// written. The frequent "pending" reconcile lists only images carrying it, so its cost
	// follows what changed, not the fleet. It never coexists with TagFailureRecorded (the
	// marker is removed first), so an image carries at most ReservedTagCount of our tags.
	TagPending     = "ecs-dr:pending"
	PendingCopy    = "copy"
	PendingCatalog = "catalog"

	ManagedByValue = "ecs-image-dr"
	RoleSource     = "source"
	RoleCopy       = "copy"
)
