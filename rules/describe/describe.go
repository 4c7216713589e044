// Package describe is the skeleton every subsystem's Describe actions
// share: a page of resources in id order under a signed token bound to
// the query, the caller's tags read with each batch, the scope a token is
// bound to, and the ids asked for that do not exist. It holds no rule of
// any subsystem; each subsystem decides what it lists and what matches.
package describe

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/pagetoken"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/param"
)

// Page is a Describe action's paging: MaxResults (0: everything at once,
// as EC2 answers unpaginated callers) and the NextToken of the previous
// page.
type Page struct {
	MaxResults int
	NextToken  string
}

// CheckIDs refuses a Describe request that names resources of type r by
// id and also sets MaxResults: InvalidCombination with
// ReasonIDsWithPaging, as EC2 refuses it.
func CheckIDs(r openami.ResourceType, ids []string, pg Page) error {
	if pg.MaxResults != 0 && len(ids) > 0 {
		return openami.ReasonErrorf(openami.InvalidCombination, r, openami.ReasonIDsWithPaging,
			"%s ids and MaxResults may not be given together", r)
	}
	return nil
}

// Bounds are the limits of an action's MaxResults.
type Bounds struct{ Min, Max int }

// List returns one page of resources in id order (pagetoken.List), after
// checking MaxResults against the action's bounds (InvalidParameter
// outside them). The token is signed with tokens and bound to scope, so it
// cannot be replayed for another query.
func List[T any](tokens *pagetoken.Codec, scope string, pg Page, b Bounds, fetch func(after string, limit int) ([]T, error), id func(T) string, match func(T) bool) ([]T, string, error) {
	limit := pg.MaxResults
	if limit == 0 {
		limit = math.MaxInt - 1
	} else if limit < b.Min || limit > b.Max {
		return nil, "", param.Invalid("MaxResults", strconv.Itoa(pg.MaxResults), "Expecting a value between %d and %d.", b.Min, b.Max)
	}
	return pagetoken.List(tokens, scope, limit, pg.NextToken, fetch, id, match)
}

// Slice returns the fetch of List over resources already in memory: all,
// sorted by id, narrowed to wanted when any is named, from after on, at
// most limit at a time.
func Slice[T any](all []T, wanted []string, id func(T) string) func(after string, limit int) ([]T, error) {
	return func(after string, limit int) ([]T, error) {
		var out []T
		for _, x := range all {
			if id(x) > after && (len(wanted) == 0 || slices.Contains(wanted, id(x))) {
				out = append(out, x)
			}
			if len(out) == limit {
				break
			}
		}
		return out, nil
	}
}

// Tagged is List over the caller's own resources with their tags: list
// reads a batch within a View that also reads the batch's tags, match
// decides on each resource given its tags, and the tags of the resources
// on the page come back with it, so the page needs no second read.
func Tagged[T any](ctx context.Context, store metadata.Store, tokens *pagetoken.Codec, p openami.Principal, scope string, pg Page, b Bounds,
	list func(tx metadata.Tx, after string, limit int) ([]T, error), id func(T) string,
	match func(T, map[string]string) bool) ([]T, map[string][]openami.Tag, string, error) {
	var batch map[string][]openami.Tag // the current batch's tags
	kept := map[string][]openami.Tag{}
	fetch := func(after string, limit int) ([]T, error) {
		var out []T
		err := store.View(ctx, func(tx metadata.Tx) error {
			var err error
			if out, err = list(tx, after, limit); err != nil {
				return err
			}
			batch, err = tx.Tags().Of(p.Region, p.AccountID, IDs(out, id))
			return err
		})
		return out, err
	}
	items, next, err := List(tokens, scope, pg, b, fetch, id, func(x T) bool {
		if !match(x, tagset.Map(batch[id(x)])) {
			return false
		}
		kept[id(x)] = batch[id(x)]
		return true
	})
	return items, kept, next, err
}

// Scope binds a page token to the action, the caller and the query.
func Scope(action string, p openami.Principal, filters []filter.Filter, extra ...string) string {
	return pagetoken.Scope(append([]string{action, p.AccountID, p.Region, Fingerprint(filters)}, extra...)...)
}

// Fingerprint returns a stable string for a filter list, binding a page
// token to the query that produced it.
func Fingerprint(filters []filter.Filter) string {
	b, err := json.Marshal(filters)
	if err != nil {
		panic("describe: filters do not marshal: " + err.Error())
	}
	return string(b)
}

// NotFound is a kind's pair of "not found" sentences: One names a
// single id (its %s), Many several, joined with ", " (its %s).
//
// EC2's plural sentences are confirmed for images ("The image ids
// '[ami-a, ami-b]' do not exist") and instances ("The instance IDs
// 'i-a, i-b' do not exist"); for the other kinds (volumes, snapshots,
// VPCs, subnets, security groups, interfaces, route tables, ACLs, export
// tasks) no public source quotes EC2's plural answer, so their Many
// follows the instances' pattern: the singular sentence with the noun
// and verb made plural and the ids joined by ", ".
type NotFound struct{ One, Many string }

// Sentence words ids (at least one) with One or Many.
func (n NotFound) Sentence(ids []string) string {
	if len(ids) == 1 {
		return fmt.Sprintf(n.One, ids[0])
	}
	return fmt.Sprintf(n.Many, strings.Join(ids, ", "))
}

// MissingIDs returns the first wanted id that found lacks, or "".
func MissingIDs[T any](wanted []string, found []T, id func(T) string) string {
	if m := Missing(wanted, found, id); len(m) > 0 {
		return m[0]
	}
	return ""
}

// Missing returns every wanted id that found lacks, in the order asked
// and each once, so an error can name them all as EC2 does ("The
// instance IDs 'i-1, i-2' do not exist"); nil when none is missing.
func Missing[T any](wanted []string, found []T, id func(T) string) []string {
	have := map[string]bool{}
	for _, f := range found {
		have[id(f)] = true
	}
	var out []string
	for _, w := range wanted {
		if !have[w] {
			have[w] = true
			out = append(out, w)
		}
	}
	return out
}

// IDs returns the ids of items, in order.
func IDs[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = id(it)
	}
	return out
}

// Timestamp formats a time as EC2 does, for filters that match it.
func Timestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
