package images

import (
	"encoding/json"
	"errors"
	"math"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/pagetoken"
)

// pageBounds are the limits of an action's MaxResults. Without MaxResults
// the answer is everything in one page, as EC2's Describe actions answer
// unpaginated callers.
type pageBounds struct{ min, max int }

// listPage returns one page of resources in id order (pagetoken.List),
// after checking MaxResults against the action's bounds. The token is
// bound to scope, so it cannot be replayed for another query.
func listPage[T any](s *Registry, scope string, pg Page, b pageBounds, fetch func(after string, limit int) ([]T, error), id func(T) string, match func(T) bool) ([]T, string, error) {
	limit := pg.MaxResults
	if limit == 0 {
		limit = math.MaxInt - 1
	} else if limit < b.min || limit > b.max {
		return nil, "", openami.FieldErrorf(openami.InvalidParameter, "MaxResults", "Value (%d) for parameter maxResults is invalid. Expecting a value between %d and %d.", pg.MaxResults, b.min, b.max)
	}
	return pagetoken.List(s.tokens, scope, limit, pg.NextToken, fetch, id, match)
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
		panic(errors.New("images: filters do not marshal"))
	}
	return string(b)
}

// missingIDs returns the first wanted id that found lacks, or "".
func missingIDs[T any](wanted []string, found []T, id func(T) string) string {
	have := map[string]bool{}
	for _, f := range found {
		have[id(f)] = true
	}
	for _, w := range wanted {
		if !have[w] {
			return w
		}
	}
	return ""
}

func idsOf[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = id(it)
	}
	return out
}

// timestampString formats a time as EC2 does, for filters that match it.
func timestampString(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
