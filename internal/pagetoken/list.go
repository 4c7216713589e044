package pagetoken

// List returns one page of at most limit items in cursor order (limit
// must be at least 1): it decodes token (a NextToken, "" for the first
// page) under scope, fetches batches after the cursor, keeps those match
// accepts, and stops once it has one more than the page holds, whose
// predecessor's id becomes the next token ("" after the last page). A
// token that does not decode is the InvalidToken error of Decode; a
// failing fetch ends the listing with its error.
func List[T any](c *Codec, scope string, limit int, token string, fetch func(after string, limit int) ([]T, error), id func(T) string, match func(T) bool) ([]T, string, error) {
	after := ""
	if token != "" {
		raw, err := c.Decode(scope, token)
		if err != nil {
			return nil, "", err
		}
		after = string(raw)
	}
	var out []T
	// One more than the page, so that a page needs one fetch when the
	// store selects well, but not so few that selective filters applied
	// by match cost many round trips.
	batch := min(max(limit+1, 64), 1000)
	for {
		items, err := fetch(after, batch)
		if err != nil {
			return nil, "", err
		}
		if out == nil {
			out = make([]T, 0, min(limit, len(items)))
		}
		for _, it := range items {
			if !match(it) {
				continue
			}
			if len(out) == limit {
				return out, c.Encode(scope, []byte(id(out[len(out)-1]))), nil
			}
			out = append(out, it)
		}
		if len(items) < batch {
			return out, "", nil
		}
		after = id(items[len(items)-1])
	}
}
