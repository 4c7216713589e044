package openami

// Region is a region openami serves, with its availability zones. Every
// resource belongs to exactly one region.
type Region struct {
	Name string // us-east-1
	// Zones are the region's availability zones, in order.
	Zones []Zone
}

// Zone is an availability zone.
type Zone struct {
	Name string // us-east-1a
	ID   string // use1-az1
}
