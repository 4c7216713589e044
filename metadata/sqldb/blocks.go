package sqldb

import (
	"database/sql"
	"fmt"
	"slices"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// Helpers shared by the block-storage roles: digests as blobs, block
// tables, batching.

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

// limitClause appends a LIMIT for limit > 0.
func limitClause(query string, args []any, limit int) (string, []any) {
	if limit > 0 {
		return query + ` LIMIT ?`, append(args, limit)
	}
	return query, args
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

func appendStrings(args []any, ss []string) []any {
	for _, s := range ss {
		args = append(args, s)
	}
	return args
}

// blockTable is a table of block references keyed by (owner, block_index):
// snapshot_blocks or volume_blocks. Rows are inserted only while the owner
// exists.
type blockTable struct {
	t        *tx
	s        *blockStmts
	notFound func(id string) error
}

// blockStmts are the statements of one block table, built once per Store.
type blockStmts struct {
	put, get, list, deleteAll string
}

func newBlockStmts(d *Dialect, table, owner, parentTable string) *blockStmts {
	return &blockStmts{
		// One statement, on primary keys only: the parent's, to insert
		// nothing if it is gone, and the block's, to replace. The casts
		// give PostgreSQL the parameters' types, which it does not infer
		// through a SELECT list.
		put: `INSERT INTO ` + table + ` (` + owner + `, block_index, digest, checksum)
SELECT id, CAST(? AS BIGINT), CAST(? AS ` + d.Blob + `), CAST(? AS TEXT) FROM ` + parentTable + ` WHERE id = ?
ON CONFLICT (` + owner + `, block_index) DO UPDATE SET digest = excluded.digest, checksum = excluded.checksum`,
		get:       `SELECT digest, checksum FROM ` + table + ` WHERE ` + owner + ` = ? AND block_index = ?`,
		list:      `SELECT block_index, digest, checksum FROM ` + table + ` WHERE ` + owner + ` = ? AND block_index > ? ORDER BY block_index`,
		deleteAll: `DELETE FROM ` + table + ` WHERE ` + owner + ` = ?`,
	}
}

func (bt blockTable) put(id string, b metadata.BlockRef) error {
	if b.Index < 0 {
		return fmt.Errorf("sqldb: put block: negative index %d", b.Index)
	}
	n, err := bt.t.execN(bt.s.put, b.Index, b.Digest[:], b.Checksum, id)
	if err != nil {
		return fmt.Errorf("sqldb: put block of %s: %w", id, err)
	}
	if n == 0 {
		return bt.notFound(id)
	}
	return nil
}

func (bt blockTable) get(id string, index int64) (metadata.BlockRef, bool, error) {
	b := metadata.BlockRef{Index: index}
	err := bt.t.get(bt.s.get, []any{id, index}, digestDest{&b.Digest}, &b.Checksum)
	if err == sql.ErrNoRows {
		return metadata.BlockRef{}, false, nil
	}
	if err != nil {
		return metadata.BlockRef{}, false, fmt.Errorf("sqldb: get block %d of %s: %w", index, id, err)
	}
	return b, true, nil
}

func (bt blockTable) list(id string, after int64, limit int) ([]metadata.BlockRef, error) {
	q, args := limitClause(bt.s.list, []any{id, after}, limit)
	var list []metadata.BlockRef
	err := bt.t.each(q, args, func(r *sql.Rows) error {
		var b metadata.BlockRef
		if err := r.Scan(&b.Index, digestDest{&b.Digest}, &b.Checksum); err != nil {
			return err
		}
		list = append(list, b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list blocks of %s: %w", id, err)
	}
	return list, nil
}

func (bt blockTable) deleteAll(id string) error {
	if _, err := bt.t.exec(bt.s.deleteAll, id); err != nil {
		return fmt.Errorf("sqldb: delete blocks of %s: %w", id, err)
	}
	return nil
}
