package catalog

// DatabaseEntry is the newest restorable backup of one database instance in one region
// (issue 13 fills it in). It is stored as its own object kind, KindDatabase, with the same
// layout and the same newest-by-data-age rule as images (see the package's storage notes):
// one object per (policy, DB instance, region) under
//
//	catalog/<policy>/v2/databases/<db instance>/<region>/<data time>-<backup id>.json
//
// written with putNewest and read with readNewest.
type DatabaseEntry struct{}
