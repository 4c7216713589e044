// Package identity holds the rules of who calls openami and where:
// accounts and their access keys (authentication, enabling and disabling,
// organizations and organizational units), key pairs, and the regions and
// availability zones a server serves. It is the bottom subsystem of the
// rules layer: it imports no other rules package, and the others (and the
// service) ask it about accounts, key pairs and regions through its
// exported methods.
//
// The API calls the exported methods of Accounts with the caller's
// openami.Principal and plain Go values (api/ec2's key pairs and regions,
// and the authentication of every request in api/server.go); cmd/openami's
// account commands call the rest. Methods return *openami.Error values
// whose class and resource the API maps to wire error codes.
//
// Tags on key pairs are written here when a key pair is created with
// them; tagging and untagging afterwards is package service's, which
// checks the ownership of every resource type (service/tags.go).
package identity

import (
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/metadata"
)

// Config is what Accounts are built from. Store, Seal and Regions are
// required.
type Config struct {
	Store metadata.Store
	// Seal seals access-key secrets and the regions' EC2 private keys at
	// rest.
	Seal *seal.Key
	// Regions are the regions this server serves, in order (ParseRegions).
	Regions []openami.Region
	// Clock defaults to time.Now.
	Clock openami.Clock
}

// Accounts implements identity over a metadata store: accounts, access
// keys, key pairs, regions and zones.
type Accounts struct {
	store   metadata.Store
	seal    *seal.Key
	regions []openami.Region
	now     openami.Clock
	ec2     regionKeys
}

// New returns Accounts built from cfg.
func New(cfg Config) *Accounts {
	s := &Accounts{store: cfg.Store, seal: cfg.Seal, regions: cfg.Regions, now: cfg.Clock}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// nowUTC returns the clock's time in UTC, truncated to milliseconds as AWS
// timestamps are.
func (s *Accounts) nowUTC() time.Time {
	return s.now().UTC().Truncate(time.Millisecond)
}

// Regions returns the regions this server serves, in order.
func (s *Accounts) Regions() []openami.Region { return s.regions }

// Region returns the served region with the name, and whether there is one.
func (s *Accounts) Region(name string) (openami.Region, bool) {
	for _, r := range s.regions {
		if r.Name == name {
			return r, true
		}
	}
	return openami.Region{}, false
}
