// Package metadata defines openami's metadata store: the durable record of
// accounts, access keys and every resource's metadata (key pairs, tags and,
// later, images, snapshots, volumes and instances). Block data never goes
// here; it lives in the block store.
//
// A Store runs functions inside transactions. Update runs a read-write
// transaction and commits it only if the function returns nil; View runs a
// read-only one. Inside a transaction, Tx hands out one small interface per
// role (Accounts, KeyPairs, Tags, Settings), so a helper takes only the role
// it needs. Transactions are explicit values, never hidden in a context.
//
// Implementations: metadata/sqlite (the embedded default) and
// metadata/postgres, both built on metadata/sqldb. Every implementation must
// pass the conformance suite in metadata/storetest.
//
// Errors: methods return *openami.Error values of class NotFound or
// Duplicate for the outcomes they document, and wrap anything else as
// Internal. A function passed to Update or View may return any error; it is
// returned unchanged after the transaction is rolled back.
package metadata

import (
	"context"

	"github.com/openami/openami"
)

// Store is a transactional metadata store.
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction and commits it if fn
	// returns nil. Implementations may run fn more than once when a
	// transaction conflicts with a concurrent one, so fn must not have
	// effects outside the transaction.
	Update(ctx context.Context, fn func(Tx) error) error
	// Close releases the store's connections.
	Close() error
}

// Tx is a transaction. Its role accessors return views bound to it; they
// must not be used after the function that received the Tx returns.
type Tx interface {
	Accounts() Accounts
	KeyPairs() KeyPairs
	Tags() Tags
	Settings() Settings
}

// Accounts records accounts and their access keys.
type Accounts interface {
	// Create records a new account. Duplicate if its id or name is taken.
	Create(a openami.Account) error
	// Get returns the account with the id. NotFound if there is none.
	Get(id string) (openami.Account, error)
	// List returns every account, ordered by id.
	List() ([]openami.Account, error)
	// SetStatus changes an account's status. NotFound if there is none.
	SetStatus(id string, status openami.AccountStatus) error
	// Delete removes an account with its access keys, key pairs and tags.
	// NotFound if there is none.
	Delete(id string) error

	// CreateKey records an access key. Duplicate if the id is taken;
	// NotFound if the account does not exist.
	CreateKey(k openami.AccessKey) error
	// Key returns the access key with the id. NotFound if there is none.
	Key(id string) (openami.AccessKey, error)
	// Keys returns an account's access keys, ordered by id.
	Keys(accountID string) ([]openami.AccessKey, error)
	// DeleteKey removes an access key. NotFound if there is none.
	DeleteKey(id string) error
}

// KeyPairs records key pairs, which belong to an account and a region.
type KeyPairs interface {
	// Create records a key pair. Duplicate if the account already has a
	// key pair of that name in that region, or if the id is taken.
	Create(k openami.KeyPair) error
	// List returns the account's key pairs in the region, ordered by name.
	List(region, accountID string) ([]openami.KeyPair, error)
	// Delete removes a key pair by id, with its tags. NotFound if the
	// account has no such key pair in the region.
	Delete(region, accountID, id string) error
}

// TagRow is one tag of one resource.
type TagRow struct {
	ResourceID   string
	ResourceType openami.ResourceType
	Key          string
	Value        string
}

// TagKey selects a tag for deletion: by key alone, or by key and value when
// Value is not nil.
type TagKey struct {
	Key   string
	Value *string
}

// TagScan is a page request over an account's tags in a region, in
// (ResourceID, Key) order. It narrows the scan where it can; callers apply
// any further filtering themselves.
type TagScan struct {
	// AfterResourceID and AfterKey: return rows strictly after this
	// position. Both empty starts at the beginning.
	AfterResourceID string
	AfterKey        string
	// ResourceIDs, ResourceTypes and Keys, when not empty, restrict the rows
	// to those values (exact matches).
	ResourceIDs   []string
	ResourceTypes []openami.ResourceType
	Keys          []string
	// Limit is the most rows returned; 0 means no limit.
	Limit int
}

// Tags records tags on resources. Tags belong to the resource's owner and
// region; the store does not check that the resource exists.
type Tags interface {
	// Set adds the tags to a resource, overwriting the value of any key it
	// already has.
	Set(region, accountID, resourceID string, typ openami.ResourceType, tags []openami.Tag) error
	// Delete removes the selected tags from a resource. A key the resource
	// does not have, or whose value does not match, is ignored.
	Delete(region, accountID, resourceID string, keys []TagKey) error
	// DeleteAll removes every tag of a resource.
	DeleteAll(region, accountID, resourceID string) error
	// Of returns the tags of each of the resources, ordered by key. A
	// resource without tags has no entry.
	Of(region, accountID string, resourceIDs []string) (map[string][]openami.Tag, error)
	// Scan returns a page of the account's tags in the region.
	Scan(region, accountID string, q TagScan) ([]TagRow, error)
}

// Settings is a small key-value table for server-wide values that must
// survive restarts and be shared by every process using the store, such as
// the secret that signs pagination tokens.
type Settings interface {
	// Get returns the value of a setting. NotFound if it is not set.
	Get(key string) ([]byte, error)
	// Put sets a setting, replacing any earlier value.
	Put(key string, value []byte) error
	// PutIfAbsent sets a setting unless it is already set, and returns the
	// value the setting has afterwards.
	PutIfAbsent(key string, value []byte) ([]byte, error)
}
