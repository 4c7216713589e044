package sqldb

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

type snapshots struct {
	t      *tx
	blocks blockTable
}

// groupAll is the one group a permission may name.
const groupAll = "all"

func snapshotNotFound(id string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceSnapshot, "The snapshot '%s' does not exist.", id)
}

const snapshotColumns = `region, account_id, id, volume_id, volume_size, state, state_reason, progress, description,
parent_id, root, completing, client_token, deadline, start_time, data_bytes, encrypted, kms_key_id, tiering, tiering_due`

func scanSnapshot(sc scanner) (openami.Snapshot, error) {
	var (
		s                 openami.Snapshot
		state             string
		deadline, started int64
		tiering           string
		due               int64
	)
	if err := sc.Scan(&s.Region, &s.AccountID, &s.ID, &s.VolumeID, &s.VolumeSize, &state, &s.StateReason,
		&s.Progress, &s.Description, &s.ParentID, digestDest{&s.Root}, &s.Completing, &s.ClientToken,
		&deadline, &started, &s.DataBytes, &s.Encrypted, &s.KmsKeyID, &tiering, &due); err != nil {
		return openami.Snapshot{}, err
	}
	if tiering != "" {
		if err := json.Unmarshal([]byte(tiering), &s.Tiering); err != nil {
			return openami.Snapshot{}, fmt.Errorf("snapshot %s: tiering: %w", s.ID, err)
		}
	}
	s.State = openami.SnapshotState(state)
	s.Deadline = fromNanos(deadline)
	s.StartTime = fromNanos(started)
	return s, nil
}

func (sn snapshots) Create(s openami.Snapshot) error {
	n, err := sn.t.execN(`INSERT INTO snapshots (`+snapshotColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING`,
		s.Region, s.AccountID, s.ID, s.VolumeID, s.VolumeSize, string(s.State), s.StateReason, s.Progress,
		s.Description, s.ParentID, s.Root[:], s.Completing, s.ClientToken, nanos(s.Deadline), nanos(s.StartTime),
		s.DataBytes, s.Encrypted, s.KmsKeyID, tieringDoc(s.Tiering), nanos(s.Tiering.Due))
	if err != nil && !sn.t.d.unique(err) {
		return fmt.Errorf("sqldb: create snapshot: %w", err)
	}
	if err != nil || n == 0 {
		return openami.Errorf(openami.Duplicate, openami.ResourceSnapshot, "The snapshot '%s' already exists.", s.ID)
	}
	return nil
}

// one returns the snapshot a query selects, or notFound if none.
func (sn snapshots) one(query string, args []any, notFound error) (openami.Snapshot, error) {
	var (
		s     openami.Snapshot
		found bool
	)
	err := sn.t.each(`SELECT `+snapshotColumns+` FROM snapshots WHERE `+query, args, func(r *sql.Rows) error {
		var err error
		s, err = scanSnapshot(r)
		found = true
		if err != nil {
			return err
		}
		return errStop
	})
	if err != nil {
		return openami.Snapshot{}, fmt.Errorf("sqldb: get snapshot: %w", err)
	}
	if !found {
		return openami.Snapshot{}, notFound
	}
	return s, nil
}

func (sn snapshots) Get(region, id string) (openami.Snapshot, error) {
	return sn.one(`id = ? AND region = ?`, []any{id, region}, snapshotNotFound(id))
}

func (sn snapshots) ByClientToken(region, accountID, token string) (openami.Snapshot, error) {
	notFound := openami.Errorf(openami.NotFound, openami.ResourceSnapshot, "No snapshot was made with the client token '%s'.", token)
	if token == "" {
		// No snapshot is made with an empty token, whatever its column
		// holds.
		return openami.Snapshot{}, notFound
	}
	return sn.one(`region = ? AND account_id = ? AND client_token = ? ORDER BY id LIMIT 1`,
		[]any{region, accountID, token}, notFound)
}

func (sn snapshots) Update(s openami.Snapshot) error {
	n, err := sn.t.execN(`UPDATE snapshots SET volume_id = ?, volume_size = ?, state = ?, state_reason = ?,
progress = ?, description = ?, parent_id = ?, root = ?, completing = ?, client_token = ?, deadline = ?,
start_time = ?, data_bytes = ?, encrypted = ?, kms_key_id = ?, tiering = ?, tiering_due = ?
WHERE id = ? AND region = ?`,
		s.VolumeID, s.VolumeSize, string(s.State), s.StateReason, s.Progress, s.Description, s.ParentID,
		s.Root[:], s.Completing, s.ClientToken, nanos(s.Deadline), nanos(s.StartTime), s.DataBytes,
		s.Encrypted, s.KmsKeyID, tieringDoc(s.Tiering), nanos(s.Tiering.Due), s.ID, s.Region)
	if err != nil {
		return fmt.Errorf("sqldb: update snapshot: %w", err)
	}
	if n == 0 {
		return snapshotNotFound(s.ID)
	}
	return nil
}

func (sn snapshots) Delete(region, id string) error {
	// The parent last: permissions reference it. If it is not there in
	// this region, neither deletes below it may remove anything.
	var one int
	err := sn.t.get(`SELECT 1 FROM snapshots WHERE id = ? AND region = ?`, []any{id, region}, &one)
	if err == sql.ErrNoRows {
		return snapshotNotFound(id)
	}
	if err != nil {
		return fmt.Errorf("sqldb: delete snapshot: %w", err)
	}
	if _, err := sn.t.exec(`DELETE FROM snapshot_permissions WHERE snapshot_id = ?`, id); err != nil {
		return fmt.Errorf("sqldb: delete snapshot: permissions: %w", err)
	}
	if err := sn.blocks.deleteAll(id); err != nil {
		return err
	}
	if _, err := sn.t.exec(`DELETE FROM snapshots WHERE id = ?`, id); err != nil {
		return fmt.Errorf("sqldb: delete snapshot: %w", err)
	}
	return nil
}

// List runs one query in the common case. Lists of ids, owners or accounts
// too long for one IN clause are split, and the query run for every
// combination of pieces: each returns the first Limit snapshots it selects,
// so the first Limit of their union are the answer.
func (sn snapshots) List(region string, q metadata.SnapshotQuery) ([]openami.Snapshot, error) {
	idPieces := splitList(sortedUnique(q.IDs))
	ownerPieces := splitList(sortedUnique(q.OwnerIDs))
	restorePieces := splitList(sortedUnique(q.RestorableBy))
	limit := max(q.Limit, 0)
	var list []openami.Snapshot
	for _, ids := range idPieces {
		if len(ids) > 0 && q.After != "" && ids[len(ids)-1] <= q.After {
			continue
		}
		n := len(list)
		for _, owners := range ownerPieces {
			for _, restorers := range restorePieces {
				page, err := sn.list(region, q, ids, owners, restorers, limit)
				if err != nil {
					return nil, err
				}
				list = append(list, page...)
			}
		}
		if len(ownerPieces) > 1 || len(restorePieces) > 1 {
			// Pieces of one piece of ids overlap; pieces of ids do not,
			// and come in id order.
			slices.SortFunc(list[n:], func(a, b openami.Snapshot) int { return strings.Compare(a.ID, b.ID) })
			list = slices.CompactFunc(list, func(a, b openami.Snapshot) bool { return a.ID == b.ID })
		}
		if limit > 0 && len(list) >= limit {
			return list[:limit], nil
		}
	}
	return list, nil
}

// list runs the query of List for one piece of each list.
func (sn snapshots) list(region string, q metadata.SnapshotQuery, ids, owners, restorers []string, limit int) ([]openami.Snapshot, error) {
	var b strings.Builder
	args := []any{region}
	b.WriteString(`SELECT ` + snapshotColumns + ` FROM snapshots s WHERE s.region = ?`)
	if q.After != "" {
		b.WriteString(` AND s.id > ?`)
		args = append(args, q.After)
	}
	if len(ids) > 0 {
		b.WriteString(` AND s.id IN (` + placeholders(len(ids)) + `)`)
		args = appendStrings(args, ids)
	}
	if len(owners) > 0 {
		b.WriteString(` AND s.account_id IN (` + placeholders(len(owners)) + `)`)
		args = appendStrings(args, owners)
	}
	if q.VisibleTo != "" {
		b.WriteString(` AND (s.account_id = ? OR EXISTS (SELECT 1 FROM snapshot_permissions p
WHERE p.snapshot_id = s.id AND (p.account_id = ? OR p.grp = ?)))`)
		args = append(args, q.VisibleTo, q.VisibleTo, groupAll)
	}
	if len(restorers) > 0 {
		in := placeholders(len(restorers))
		b.WriteString(` AND (s.account_id IN (` + in + `) OR EXISTS (SELECT 1 FROM snapshot_permissions p
WHERE p.snapshot_id = s.id AND (p.account_id IN (` + in + `) OR p.grp = ?)))`)
		args = appendStrings(args, restorers)
		args = appendStrings(args, restorers)
		args = append(args, groupAll)
	}
	b.WriteString(` ORDER BY s.id`)
	query, args := limitClause(b.String(), args, limit)
	var list []openami.Snapshot
	err := sn.t.each(query, args, func(r *sql.Rows) error {
		s, err := scanSnapshot(r)
		list = append(list, s)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list snapshots: %w", err)
	}
	return list, nil
}

func (sn snapshots) Pending() ([]openami.Snapshot, error) {
	var list []openami.Snapshot
	err := sn.t.each(`SELECT `+snapshotColumns+` FROM snapshots WHERE state = ? ORDER BY id`,
		[]any{string(openami.SnapshotPending)}, func(r *sql.Rows) error {
			s, err := scanSnapshot(r)
			list = append(list, s)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list pending snapshots: %w", err)
	}
	return list, nil
}

// tieringDoc is a snapshot's tiering as stored: JSON, "" when zero.
func tieringDoc(t openami.SnapshotTiering) string {
	if t == (openami.SnapshotTiering{}) {
		return ""
	}
	b, err := json.Marshal(t, json.OmitZeroStructFields(true))
	if err != nil {
		panic("sqldb: snapshot tiering does not marshal: " + err.Error())
	}
	return string(b)
}

func (sn snapshots) TieringDue(before time.Time, limit int) ([]openami.Snapshot, error) {
	query, args := limitClause(`SELECT `+snapshotColumns+` FROM snapshots WHERE tiering_due > 0 AND tiering_due <= ? ORDER BY tiering_due, id`,
		[]any{nanos(before)}, max(limit, 0))
	var list []openami.Snapshot
	err := sn.t.each(query, args, func(r *sql.Rows) error {
		s, err := scanSnapshot(r)
		list = append(list, s)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list snapshots due a tiering step: %w", err)
	}
	return list, nil
}

func (sn snapshots) Permissions(snapshotID string) ([]metadata.Permission, error) {
	var list []metadata.Permission
	err := sn.t.each(`SELECT account_id, grp FROM snapshot_permissions WHERE snapshot_id = ? ORDER BY account_id, grp`,
		[]any{snapshotID}, func(r *sql.Rows) error {
			var p metadata.Permission
			if err := r.Scan(&p.AccountID, &p.Group); err != nil {
				return err
			}
			list = append(list, p)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list snapshot permissions: %w", err)
	}
	return list, nil
}

// checkPermissions refuses a permission that names neither or both of an
// account and a group, or a group other than all, before the table's check
// constraint would (an error that would abort a PostgreSQL transaction).
func checkPermissions(ps []metadata.Permission) error {
	for _, p := range ps {
		if (p.AccountID == "") == (p.Group == "") || p.Group != "" && p.Group != groupAll {
			return fmt.Errorf("sqldb: invalid permission %+v: want an account id or group %q", p, groupAll)
		}
	}
	return nil
}

func (sn snapshots) AddPermissions(snapshotID string, ps []metadata.Permission) error {
	if err := checkPermissions(ps); err != nil {
		return err
	}
	// Check the snapshot rather than let the foreign key fail, which would
	// abort a PostgreSQL transaction.
	var one int
	err := sn.t.get(`SELECT 1 FROM snapshots WHERE id = ?`, []any{snapshotID}, &one)
	if err == sql.ErrNoRows {
		return snapshotNotFound(snapshotID)
	}
	if err != nil {
		return fmt.Errorf("sqldb: add snapshot permissions: %w", err)
	}
	for len(ps) > 0 {
		batch := ps[:min(len(ps), setBatch)]
		ps = ps[len(batch):]
		var q strings.Builder
		q.WriteString(`INSERT INTO snapshot_permissions (snapshot_id, account_id, grp) VALUES `)
		args := make([]any, 0, 3*len(batch))
		for i, p := range batch {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?)")
			args = append(args, snapshotID, p.AccountID, p.Group)
		}
		// DO NOTHING, unlike DO UPDATE, accepts a row twice in one INSERT.
		q.WriteString(` ON CONFLICT DO NOTHING`)
		if _, err := sn.t.exec(q.String(), args...); err != nil {
			return fmt.Errorf("sqldb: add snapshot permissions: %w", err)
		}
	}
	return nil
}

func (sn snapshots) RemovePermissions(snapshotID string, ps []metadata.Permission) error {
	for _, p := range ps {
		if _, err := sn.t.exec(`DELETE FROM snapshot_permissions WHERE snapshot_id = ? AND account_id = ? AND grp = ?`,
			snapshotID, p.AccountID, p.Group); err != nil {
			return fmt.Errorf("sqldb: remove snapshot permissions: %w", err)
		}
	}
	return nil
}

func (sn snapshots) PutBlock(snapshotID string, b metadata.BlockRef) error {
	return sn.blocks.put(snapshotID, b)
}

func (sn snapshots) Blocks(snapshotID string, after int64, limit int) ([]metadata.BlockRef, error) {
	return sn.blocks.list(snapshotID, after, limit)
}

func (sn snapshots) DeleteBlocks(snapshotID string) error {
	return sn.blocks.deleteAll(snapshotID)
}
