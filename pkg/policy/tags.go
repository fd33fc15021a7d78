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
	// TagHold=HoldValue, set by an operator on any image of ours, keeps it from cleanup
	// whatever the retention rule says (a legal hold, an image under investigation, a
	// failover in progress). Remove the tag to let retention apply again.
	TagHold   = "ecs-dr:hold"
	HoldValue = "true"

	ManagedByValue = "ecs-image-dr"
	RoleSource     = "source"
	RoleCopy       = "copy"
)
