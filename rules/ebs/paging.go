package ebs

import (
	"context"
	"encoding/json"
	"errors"
	"math"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/pagetoken"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/metadata"
)

// pageBounds are the limits of an action's MaxResults. Without MaxResults
// the answer is everything in one page, as EC2's Describe actions answer
// unpaginated callers.
type pageBounds struct{ min, max int }

// listPage returns one page of resources in id order (pagetoken.List),
// after checking MaxResults against the action's bounds. The token is
// bound to scope, so it cannot be replayed for another query.
func listPage[T any](s *Volumes, scope string, pg Page, b pageBounds, fetch func(after string, limit int) ([]T, error), id func(T) string, match func(T) bool) ([]T, string, error) {
	limit := pg.MaxResults
	if limit == 0 {
		limit = math.MaxInt - 1
	} else if limit < b.min || limit > b.max {
		return nil, "", openami.FieldErrorf(openami.InvalidParameter, "MaxResults", "Value (%d) for parameter maxResults is invalid. Expecting a value between %d and %d.", pg.MaxResults, b.min, b.max)
	}
	return pagetoken.List(s.tokens, scope, limit, pg.NextToken, fetch, id, match)
}

// taggedPage is listPage over the caller's own resources with their tags:
// list reads a batch within a View that also reads the batch's tags, match
// decides on each resource given its tags, and the tags of the resources
// on the page come back with it, so the page needs no second read.
func taggedPage[T any](ctx context.Context, s *Volumes, p openami.Principal, scope string, pg Page, b pageBounds,
	list func(tx metadata.Tx, after string, limit int) ([]T, error), id func(T) string,
	match func(T, map[string]string) bool) ([]T, map[string][]openami.Tag, string, error) {
	var batch map[string][]openami.Tag // the current batch's tags
	kept := map[string][]openami.Tag{}
	fetch := func(after string, limit int) ([]T, error) {
		var out []T
		err := s.store.View(ctx, func(tx metadata.Tx) error {
			var err error
			if out, err = list(tx, after, limit); err != nil {
				return err
			}
			batch, err = tx.Tags().Of(p.Region, p.AccountID, idsOf(out, id))
			return err
		})
		return out, err
	}
	items, next, err := listPage(s, scope, pg, b, fetch, id, func(x T) bool {
		if !match(x, tagset.Map(batch[id(x)])) {
			return false
		}
		kept[id(x)] = batch[id(x)]
		return true
	})
	return items, kept, next, err
}

// describeScope binds a page token to the action, caller and query.
func describeScope(action string, p openami.Principal, filters []filter.Filter, extra ...string) string {
	return pagetoken.Scope(append([]string{action, p.AccountID, p.Region, fingerprint(filters)}, extra...)...)
}

// fingerprint returns a stable string for a filter list, binding a
// pagination token to the query that produced it.
func fingerprint(filters []filter.Filter) string {
	b, err := json.Marshal(filters)
	if err != nil {
		panic(errors.New("ebs: filters do not marshal"))
	}
	return string(b)
}
