package metadata

import "github.com/openami/openami"

// Hosts records the compute hosts (docs/HOSTS.md): one record per host,
// written whole. Its heartbeat (Expires) and fencing epoch (Epoch) are
// fields of the record, so that a transaction that reads a host's record
// and commits conflicts with one that declares the host dead.
type Hosts interface {
	// Put records a host, or replaces every field of the one with its id.
	Put(h openami.Host) error
	// Get returns a host. NotFound if none.
	Get(id string) (openami.Host, error)
	// List returns every host, in id order.
	List() ([]openami.Host, error)
	// Delete removes a host. NotFound if none.
	Delete(id string) error
}
