package sqldb

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/openami/openami"
)

// The generic SQL helpers every record family's role shares: scanning
// (scanner, digestDest), binding lists (placeholders, appendStrings, IN
// lists split with splitList, multi-row statements sized by batchLen and
// setBatch), LIMIT clauses, and the encoding of times (nanos, fromNanos,
// utcTime) and of values in NOT NULL columns (nonNil). The dialect's
// differences (placeholder syntax, unique violations, retryable errors)
// live in dialect.go; transactions, their retries and the tx methods that
// run queries in store.go.

// scanner is what sql.Row and sql.Rows have in common.
type scanner interface{ Scan(...any) error }

// digestDest scans a 32-byte blob into a digest.
type digestDest struct{ d *openami.Digest }

func (s digestDest) Scan(v any) error {
	b, ok := v.([]byte)
	if !ok || len(b) != len(s.d) {
		return fmt.Errorf("stored digest is %T of %d bytes, want 32 bytes", v, len(b))
	}
	copy(s.d[:], b)
	return nil
}

// limitClause appends a LIMIT for limit > 0.
func limitClause(query string, args []any, limit int) (string, []any) {
	if limit > 0 {
		return query + ` LIMIT ?`, append(args, limit)
	}
	return query, args
}

func appendStrings(args []any, ss []string) []any {
	for _, s := range ss {
		args = append(args, s)
	}
	return args
}

// placeholders returns n comma-separated ? placeholders.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// sortedUnique returns the sorted distinct values of ss, in a new slice.
func sortedUnique(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}

// splitList splits a sorted list into consecutive pieces short enough for
// an IN clause. An empty list gives one empty piece: no restriction.
func splitList(ss []string) [][]string {
	if len(ss) == 0 {
		return [][]string{nil}
	}
	var out [][]string
	for len(ss) > 0 {
		n := min(len(ss), maxInList)
		out = append(out, ss[:n])
		ss = ss[n:]
	}
	return out
}

// maxInList is the longest list of values put in one IN (…) clause. Longer
// lists are split over several queries or filtered in Go, to stay well
// inside every database's limit on bound parameters (SQLite: 32766,
// PostgreSQL: 65535) and keep statements small.
const maxInList = 500

// maxBatch is the most rows one multi-row statement writes or names in an
// IN list, a power of two. With 5 values a row it stays far below every
// database's limit on bound parameters (SQLite 32766, PostgreSQL 65535).
const maxBatch = 512

// batchLen returns how many of n items the next statement takes: the
// largest power of two not above n or limit (a power of two). Statements
// thus come in a dozen shapes at most, so that a driver's per-connection
// cache of prepared statements (pgx's, and metadata/sqlite's) is not flooded with one per length.
func batchLen(n, limit int) int {
	b := limit
	for b > n {
		b >>= 1
	}
	return b
}

// setBatch is how many rows one INSERT writes: tags, an image's
// snapshots, permissions.
const setBatch = 100

// Timestamps are stored as Unix nanoseconds, which every database holds
// exactly in a BIGINT whatever its time zone settings. The zero time is
// stored as 0 so that it survives the round trip.

// utcTime returns t in UTC, and the zero time as the zero time.
func utcTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// nonNil returns b, or an empty slice for nil: the value columns are NOT
// NULL, and a stored empty value reads back as empty, not nil.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
