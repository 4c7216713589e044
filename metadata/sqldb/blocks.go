package sqldb

import (
	"database/sql"
	"fmt"

	"github.com/openami/openami/metadata"
)

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
