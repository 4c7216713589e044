// Package kms holds the rules of openami's Key Management Service: keys,
// aliases, key policies, grants, the cryptographic operations (Encrypt,
// Decrypt, ReEncrypt, GenerateDataKey), how key material is sealed at
// rest, the purge of keys past their deletion date and the re-sealing of
// their material when the master key changes. docs/KMS.md describes the
// whole.
//
// The KMS API (api/kms) calls the exported methods of Keys with the
// caller's openami.Principal and plain Go values; the services built on
// KMS (EBS encryption, in rules/ebs) resolve, authorize and use
// keys through the few methods that take a metadata.Tx, so that the rules
// of who may use a key are decided here only. Methods return
// *openami.Error values whose class and resource the API maps to KMS
// exceptions (api/kms/errors.go).
package kms

import (
	"math"
	"strconv"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/pagetoken"
	"github.com/openami/openami/internal/seal"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/param"
)

// Config is what Keys are built from. Store, Seal, Regions and Tokens are
// required.
type Config struct {
	Store metadata.Store
	// Seal seals key material and grant tokens at rest.
	Seal *seal.Key
	// Regions are the regions whose deleted keys PurgeDeletedKeys
	// removes.
	Regions []openami.Region
	// Tokens signs the markers of ListKeys, ListAliases and the grant
	// listings.
	Tokens *pagetoken.Codec
	// Clock defaults to time.Now.
	Clock openami.Clock
	// Purged, when not nil, is called in the transaction that deletes a
	// key past its deletion date, after its row is gone, so that what was
	// built on the key goes with it (EBS's data key: docs/ENCRYPTION.md).
	// An error aborts that transaction.
	Purged func(tx metadata.Tx, k openami.Key) error
}

// Keys implements KMS over a metadata store.
type Keys struct {
	store   metadata.Store
	seal    *seal.Key
	regions []openami.Region
	tokens  *pagetoken.Codec
	now     openami.Clock
	purged  func(tx metadata.Tx, k openami.Key) error
}

// New returns Keys built from cfg.
func New(cfg Config) *Keys {
	s := &Keys{store: cfg.Store, seal: cfg.Seal, regions: cfg.Regions, tokens: cfg.Tokens, now: cfg.Clock, purged: cfg.Purged}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// nowUTC returns the clock's time in UTC, truncated to milliseconds as AWS
// timestamps are.
func (s *Keys) nowUTC() time.Time {
	return s.now().UTC().Truncate(time.Millisecond)
}

// page is the pagination part of a listing: the page size and the marker
// ("" for the first page).
type page struct {
	MaxResults int
	NextToken  string
}

// pageBounds are the limits of a listing's page size.
type pageBounds struct{ min, max int }

// listPage returns one page of a listing in id order (pagetoken.List),
// the marker bound to scope. Callers check the page size in KMS's words
// first (kmsLimit, grantLimit); b is the last guard, as the service's
// listings have it.
func listPage[T any](s *Keys, scope string, pg page, b pageBounds, fetch func(after string, limit int) ([]T, error), id func(T) string, match func(T) bool) ([]T, string, error) {
	limit := pg.MaxResults
	if limit == 0 {
		limit = math.MaxInt - 1
	} else if limit < b.min || limit > b.max {
		return nil, "", param.Invalid("MaxResults", strconv.Itoa(pg.MaxResults), "Expecting a value between %d and %d.", b.min, b.max)
	}
	return pagetoken.List(s.tokens, scope, limit, pg.NextToken, fetch, id, match)
}
