package sqldb

import (
	"database/sql"
	"fmt"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

type chunks struct{ t *tx }

func chunkNotFound(d openami.Digest) error {
	return openami.Errorf(openami.NotFound, "", "The chunk '%s' does not exist.", d)
}

func chunkDeleting(d openami.Digest) error {
	return openami.Errorf(openami.IncorrectState, "", "The chunk '%s' is being deleted.", d)
}

// touchUpsert is the head of Touch's multi-row upsert; each row adds
// touchRow. A conflicting row keeps its size and raises its generation,
// only if it is live and only upwards: a chunk already touched in gen or
// later is not written at all.
const (
	touchUpsert = `INSERT INTO chunks (region, digest, size, stored, gen, state) VALUES `
	touchRow    = `(?, ?, ?, ?, ?, 'live')`
	touchTail   = ` ON CONFLICT (region, digest) DO UPDATE SET gen = excluded.gen
WHERE chunks.state = 'live' AND chunks.gen < excluded.gen`
	touchOne = touchUpsert + touchRow + touchTail
)

// chunkState reads a chunk's state.
const chunkState = `SELECT state FROM chunks WHERE region = ? AND digest = ?`

// Touch writes one row in one statement; more in batches of up to
// maxBatch rows, after checking in batches that none is being deleted.
func (c chunks) Touch(region string, cs []metadata.Chunk, gen int64) error {
	// PostgreSQL refuses an upsert that meets one row twice.
	if len(cs) > 1 {
		seen := make(map[openami.Digest]bool, len(cs))
		uniq := make([]metadata.Chunk, 0, len(cs))
		for _, ch := range cs {
			if !seen[ch.Digest] {
				seen[ch.Digest] = true
				uniq = append(uniq, ch)
			}
		}
		cs = uniq
	}
	switch len(cs) {
	case 0:
		return nil
	case 1:
		// The write path's common case, in one statement when the chunk is
		// new or live below gen. When it writes nothing, the chunk is
		// live at gen or later (nothing to do), or being deleted: the
		// statement changed nothing either way.
		d := cs[0].Digest
		n, err := c.t.execN(touchOne, region, d[:], cs[0].Size, cs[0].Stored, gen)
		if err != nil {
			return fmt.Errorf("sqldb: touch chunk: %w", err)
		}
		if n == 1 {
			return nil
		}
		var state string
		err = c.t.get(chunkState, []any{region, d[:]}, &state)
		if err != nil {
			return fmt.Errorf("sqldb: touch chunks: %w", err)
		}
		if state != string(metadata.ChunkLive) {
			return chunkDeleting(d)
		}
		return nil
	}
	// Check first, then write: a statement that failed half-way, or a
	// database error, would leave the transaction changed or, on
	// PostgreSQL, aborted.
	for rest := cs; len(rest) > 0; {
		batch := rest[:batchLen(len(rest), maxBatch)]
		rest = rest[len(batch):]
		args := make([]any, 0, 2+len(batch))
		args = append(args, region, string(metadata.ChunkDeleting))
		for _, ch := range batch {
			args = append(args, ch.Digest[:])
		}
		var d openami.Digest
		err := c.t.get(`SELECT digest FROM chunks WHERE region = ? AND state = ? AND digest IN (`+
			placeholders(len(batch))+`) LIMIT 1`, args, digestDest{&d})
		if err == nil {
			return chunkDeleting(d)
		}
		if err != sql.ErrNoRows {
			return fmt.Errorf("sqldb: touch chunks: %w", err)
		}
	}
	for rest := cs; len(rest) > 0; {
		batch := rest[:batchLen(len(rest), maxBatch)]
		rest = rest[len(batch):]
		if _, err := c.upsert(region, batch, gen); err != nil {
			return err
		}
	}
	return nil
}

// upsert runs Touch's upsert for a batch and returns the number of rows it
// inserted or raised.
func (c chunks) upsert(region string, batch []metadata.Chunk, gen int64) (int64, error) {
	var q strings.Builder
	q.Grow(len(touchUpsert) + len(batch)*(len(touchRow)+2) + len(touchTail))
	q.WriteString(touchUpsert)
	args := make([]any, 0, 5*len(batch))
	for i, ch := range batch {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(touchRow)
		args = append(args, region, ch.Digest[:], ch.Size, ch.Stored, gen)
	}
	q.WriteString(touchTail)
	n, err := c.t.execN(q.String(), args...)
	if err != nil {
		return 0, fmt.Errorf("sqldb: touch chunks: %w", err)
	}
	return n, nil
}

func (c chunks) Get(region string, d openami.Digest) (metadata.Chunk, error) {
	ch := metadata.Chunk{Digest: d}
	var state string
	err := c.t.get(`SELECT size, stored, gen, state FROM chunks WHERE region = ? AND digest = ?`,
		[]any{region, d[:]}, &ch.Size, &ch.Stored, &ch.Gen, &state)
	if err == sql.ErrNoRows {
		return metadata.Chunk{}, chunkNotFound(d)
	}
	if err != nil {
		return metadata.Chunk{}, fmt.Errorf("sqldb: get chunk: %w", err)
	}
	ch.State = metadata.ChunkState(state)
	return ch, nil
}

func (c chunks) List(region string, after openami.Digest, limit int) ([]metadata.Chunk, error) {
	q, args := limitClause(`SELECT digest, size, stored, gen, state FROM chunks WHERE region = ? AND digest > ? ORDER BY digest`,
		[]any{region, after[:]}, limit)
	var list []metadata.Chunk
	err := c.t.each(q, args, func(r *sql.Rows) error {
		var (
			ch    metadata.Chunk
			state string
		)
		if err := r.Scan(digestDest{&ch.Digest}, &ch.Size, &ch.Stored, &ch.Gen, &state); err != nil {
			return err
		}
		ch.State = metadata.ChunkState(state)
		list = append(list, ch)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list chunks: %w", err)
	}
	return list, nil
}

func (c chunks) MarkDeleting(region string, d openami.Digest, belowGen int64) (bool, error) {
	n, err := c.t.execN(`UPDATE chunks SET state = ? WHERE region = ? AND digest = ? AND state = ? AND gen < ?`,
		string(metadata.ChunkDeleting), region, d[:], string(metadata.ChunkLive), belowGen)
	if err != nil {
		return false, fmt.Errorf("sqldb: mark chunk deleting: %w", err)
	}
	return n > 0, nil
}

// Claim's row has no size: the blob's is not known, and the row lives only
// until the blob is deleted.
func (c chunks) Claim(region string, d openami.Digest) (bool, error) {
	n, err := c.t.execN(`INSERT INTO chunks (region, digest, size, stored, gen, state) VALUES (?, ?, 0, 0, 0, ?)
ON CONFLICT (region, digest) DO NOTHING`, region, d[:], string(metadata.ChunkDeleting))
	if err != nil {
		return false, fmt.Errorf("sqldb: claim chunk: %w", err)
	}
	return n > 0, nil
}

func (c chunks) Delete(region string, d openami.Digest) error {
	if _, err := c.t.exec(`DELETE FROM chunks WHERE region = ? AND digest = ? AND state = 'deleting'`, region, d[:]); err != nil {
		return fmt.Errorf("sqldb: delete chunk: %w", err)
	}
	return nil
}

func (c chunks) Stats(region string) (count, stored int64, err error) {
	// SUM of BIGINT is NUMERIC on PostgreSQL; the cast brings it back.
	err = c.t.get(`SELECT COUNT(*), CAST(COALESCE(SUM(stored), 0) AS BIGINT) FROM chunks WHERE region = ?`,
		[]any{region}, &count, &stored)
	if err != nil {
		return 0, 0, fmt.Errorf("sqldb: chunk stats: %w", err)
	}
	return count, stored, nil
}

type nodes struct{ t *tx }

func (n nodes) Get(region string, h openami.Digest) ([]byte, error) {
	var data []byte
	err := n.t.get(`SELECT data FROM block_nodes WHERE region = ? AND hash = ?`, []any{region, h[:]}, &data)
	if err == sql.ErrNoRows {
		return nil, openami.Errorf(openami.NotFound, "", "The block map node '%s' does not exist.", h)
	}
	if err != nil {
		return nil, fmt.Errorf("sqldb: get node: %w", err)
	}
	return nonNil(data), nil
}

// Put keeps the data first stored under a hash: a node's content is its
// hash's preimage, so later data can only be the same.
func (n nodes) Put(region string, h openami.Digest, data []byte, gen int64) error {
	if _, err := n.t.exec(`INSERT INTO block_nodes (region, hash, data, gen) VALUES (?, ?, ?, ?)
ON CONFLICT (region, hash) DO UPDATE SET gen = excluded.gen WHERE block_nodes.gen < excluded.gen`,
		region, h[:], nonNil(data), gen); err != nil {
		return fmt.Errorf("sqldb: put node: %w", err)
	}
	return nil
}

func (n nodes) List(region string, after openami.Digest, limit int) ([]metadata.NodeRef, error) {
	q, args := limitClause(`SELECT hash, gen FROM block_nodes WHERE region = ? AND hash > ? ORDER BY hash`,
		[]any{region, after[:]}, limit)
	var list []metadata.NodeRef
	err := n.t.each(q, args, func(r *sql.Rows) error {
		var ref metadata.NodeRef
		if err := r.Scan(digestDest{&ref.Hash}, &ref.Gen); err != nil {
			return err
		}
		list = append(list, ref)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list nodes: %w", err)
	}
	return list, nil
}

func (n nodes) Delete(region string, hashes []openami.Digest, belowGen int64) (int, error) {
	total := 0
	for rest := hashes; len(rest) > 0; {
		batch := rest[:batchLen(len(rest), maxBatch)]
		rest = rest[len(batch):]
		args := make([]any, 0, 2+len(batch))
		args = append(args, region, belowGen)
		for _, h := range batch {
			args = append(args, h[:])
		}
		k, err := n.t.execN(`DELETE FROM block_nodes WHERE region = ? AND gen < ? AND hash IN (`+
			placeholders(len(batch))+`)`, args...)
		if err != nil {
			return total, fmt.Errorf("sqldb: delete nodes: %w", err)
		}
		total += int(k)
	}
	return total, nil
}
