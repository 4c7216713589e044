// Package sqldbtest tests sqldb's schema migrations against a real
// database: every back end built on sqldb runs RunMigrations with its
// dialect, so each numbered migration is checked on every database.
package sqldbtest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/openami/openami/metadata/sqldb"
)

// checks holds, for each migration version, a test of what that migration
// introduced, run on a database migrated up to exactly that version. A new
// migration must come with its check; TestMigrations fails otherwise.
var checks = map[int]func(t *testing.T, db *sql.DB, d *sqldb.Dialect){
	1:  check1,
	2:  check2,
	3:  check3,
	4:  check4,
	5:  check5,
	6:  check6,
	7:  check7,
	8:  check8,
	9:  check9,
	10: check10,
	11: check11,
	12: check12,
	13: check13,
	14: check14,
	15: check15,
	16: check16,
	17: check17,
	18: check18,
	19: check19,
	20: check20,
	21: check21,
}

// RunMigrations tests the migrations with dialect d on databases made by
// open, one new, empty database per subtest. The database must enforce
// foreign keys. RunMigrations closes each database when its subtest ends.
func RunMigrations(t *testing.T, d sqldb.Dialect, open func(t *testing.T) *sql.DB) {
	ctx := context.Background()
	ms := sqldb.Migrations()
	fresh := func(t *testing.T) *sql.DB {
		db := open(t)
		t.Cleanup(func() { db.Close() })
		return db
	}

	t.Run("Numbering", func(t *testing.T) {
		var names []string
		for i, m := range ms {
			if m.Version != i+1 {
				t.Errorf("migration %d has version %d", i+1, m.Version)
			}
			if m.Name == "" || slices.Contains(names, m.Name) {
				t.Errorf("migration %d: name %q is empty or repeated", m.Version, m.Name)
			}
			names = append(names, m.Name)
			if checks[m.Version] == nil {
				t.Errorf("migration %d (%s) has no check in sqldbtest", m.Version, m.Name)
			}
		}
	})

	for _, m := range ms {
		check := checks[m.Version]
		if check == nil {
			continue
		}
		t.Run(m.Name, func(t *testing.T) {
			db := fresh(t)
			if err := sqldb.Migrate(ctx, db, &d, m.Version); err != nil {
				t.Fatalf("Migrate to %d: %v", m.Version, err)
			}
			wantVersion(t, db, &d, m.Version)
			check(t, db, &d)
		})
	}

	t.Run("Idempotent", func(t *testing.T) {
		db := fresh(t)
		wantVersion(t, db, &d, 0)
		for range 2 {
			if err := sqldb.Migrate(ctx, db, &d, len(ms)); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			wantVersion(t, db, &d, len(ms))
		}
		// Asking for an older version than the database has is not a
		// downgrade: nothing happens.
		if err := sqldb.Migrate(ctx, db, &d, 0); err != nil {
			t.Fatalf("Migrate to 0: %v", err)
		}
		wantVersion(t, db, &d, len(ms))
		for _, target := range []int{-1, len(ms) + 1} {
			if err := sqldb.Migrate(ctx, db, &d, target); err == nil {
				t.Errorf("Migrate to unknown version %d succeeded", target)
			}
		}
	})

	t.Run("NewerSchema", func(t *testing.T) {
		db := fresh(t)
		if err := sqldb.Migrate(ctx, db, &d, len(ms)); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		mustExec(t, db, &d, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`, len(ms)+1, "from the future", 0)
		err := sqldb.Migrate(ctx, db, &d, len(ms))
		if !errors.Is(err, sqldb.ErrNewerSchema) {
			t.Errorf("Migrate of a newer database: %v, want ErrNewerSchema", err)
		}
		if _, err := sqldb.New(ctx, d, db, db); !errors.Is(err, sqldb.ErrNewerSchema) {
			t.Errorf("New on a newer database: %v, want ErrNewerSchema", err)
		}
		wantVersion(t, db, &d, len(ms)+1)
	})
	t.Run("Upgrade", func(t *testing.T) {
		// Rows written under each version survive every later migration.
		db := fresh(t)
		if err := sqldb.Migrate(ctx, db, &d, 1); err != nil {
			t.Fatalf("Migrate to 1: %v", err)
		}
		mustExec(t, db, &d, `INSERT INTO accounts (id, name, status, admin, created_at) VALUES (?, ?, ?, ?, ?)`,
			"111111111111", "alice", "active", false, 1)
		if err := sqldb.Migrate(ctx, db, &d, len(ms)); err != nil {
			t.Fatalf("Migrate from 1 to %d: %v", len(ms), err)
		}
		wantVersion(t, db, &d, len(ms))
		var name string
		if err := db.QueryRow(d.Rebind(`SELECT name FROM accounts WHERE id = ?`), "111111111111").Scan(&name); err != nil || name != "alice" {
			t.Errorf("account after upgrade: %q, %v", name, err)
		}
	})
	t.Run("UpgradeFrom2", func(t *testing.T) {
		// Block storage written under version 2 survives migration 3,
		// and the images tables are there to use afterwards.
		db := fresh(t)
		if err := sqldb.Migrate(ctx, db, &d, 2); err != nil {
			t.Fatalf("Migrate to 2: %v", err)
		}
		mustExec(t, db, &d, `INSERT INTO accounts (id, name, status, admin, created_at) VALUES (?, ?, ?, ?, ?)`,
			"111111111111", "alice", "active", false, 1)
		mustExec(t, db, &d, insertSnapshot, snapshotRow("r1", "111111111111", "snap-1", make([]byte, 32))...)
		mustExec(t, db, &d, `INSERT INTO snapshot_permissions (snapshot_id, account_id, grp) VALUES (?, ?, ?)`, "snap-1", "", "all")
		if err := sqldb.Migrate(ctx, db, &d, len(ms)); err != nil {
			t.Fatalf("Migrate from 2 to %d: %v", len(ms), err)
		}
		wantVersion(t, db, &d, len(ms))
		var (
			name, grp string
			size      int64
		)
		if err := db.QueryRow(d.Rebind(`SELECT name FROM accounts WHERE id = ?`), "111111111111").Scan(&name); err != nil || name != "alice" {
			t.Errorf("account after upgrade: %q, %v", name, err)
		}
		if err := db.QueryRow(d.Rebind(`SELECT s.volume_size, p.grp FROM snapshots s JOIN snapshot_permissions p ON p.snapshot_id = s.id
WHERE s.id = ?`), "snap-1").Scan(&size, &grp); err != nil || size != 8 || grp != "all" {
			t.Errorf("snapshot after upgrade: %d %q, %v", size, grp, err)
		}
		mustExec(t, db, &d, insertImage, imageRow("r1", "111111111111", "ami-1", "one", false)...)
		mustExec(t, db, &d, `INSERT INTO image_snapshots (image_id, snapshot_id) VALUES (?, ?)`, "ami-1", "snap-1")
	})
}

func wantVersion(t *testing.T, db *sql.DB, d *sqldb.Dialect, want int) {
	t.Helper()
	v, err := sqldb.SchemaVersion(context.Background(), db, d)
	if err != nil {
		t.Fatalf("SchemaVersion: %v", err)
	}
	if v != want {
		t.Fatalf("schema version %d, want %d", v, want)
	}
}

func mustExec(t *testing.T, db *sql.DB, d *sqldb.Dialect, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(d.Rebind(query), args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// mustFail runs a statement that a constraint must refuse; unique says the
// constraint is a unique one, which the dialect must recognise.
func mustFail(t *testing.T, db *sql.DB, d *sqldb.Dialect, unique bool, query string, args ...any) {
	t.Helper()
	_, err := db.Exec(d.Rebind(query), args...)
	if err == nil {
		t.Fatalf("%s %v: succeeded, want a constraint violation", query, args)
	}
	if got := d.IsUniqueViolation(err); got != unique {
		t.Fatalf("%s %v: %v: IsUniqueViolation = %v, want %v", query, args, err, got, unique)
	}
}

// check1 tests the initial schema: accounts, access keys, key pairs, tags
// and settings, with their keys and constraints.
func check1(t *testing.T, db *sql.DB, d *sqldb.Dialect) {
	const (
		acc  = `INSERT INTO accounts (id, name, status, admin, created_at) VALUES (?, ?, ?, ?, ?)`
		key  = `INSERT INTO access_keys (id, account_id, sealed_secret, created_at) VALUES (?, ?, ?, ?)`
		kp   = `INSERT INTO key_pairs (region, account_id, id, name, type, fingerprint, public_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
		tag  = `INSERT INTO tags (region, account_id, resource_id, resource_type, key, value) VALUES (?, ?, ?, ?, ?, ?)`
		sett = `INSERT INTO settings (key, value) VALUES (?, ?)`
	)
	mustExec(t, db, d, acc, "111111111111", "alice", "active", true, int64(1)<<62)
	mustFail(t, db, d, true, acc, "111111111111", "bob", "active", false, 0)
	mustFail(t, db, d, true, acc, "222222222222", "alice", "active", false, 0)
	mustFail(t, db, d, false, acc, "222222222222", nil, "active", false, 0)

	mustExec(t, db, d, key, "AKIA1", "111111111111", []byte{0, 0xff}, 0)
	mustFail(t, db, d, true, key, "AKIA1", "111111111111", []byte{1}, 0)
	mustFail(t, db, d, false, key, "AKIA2", "999999999999", []byte{1}, 0) // no such account
	mustFail(t, db, d, false, `DELETE FROM accounts WHERE id = ?`, "111111111111")

	mustExec(t, db, d, kp, "r1", "111111111111", "key-1", "k", "rsa", "f", "p", 0)
	mustExec(t, db, d, kp, "r2", "111111111111", "key-2", "k", "rsa", "f", "p", 0)
	mustExec(t, db, d, kp, "r1", "222222222222", "key-3", "k", "rsa", "f", "p", 0)
	mustFail(t, db, d, true, kp, "r1", "111111111111", "key-4", "k", "rsa", "f", "p", 0) // name taken
	mustFail(t, db, d, true, kp, "r3", "333333333333", "key-1", "x", "rsa", "f", "p", 0) // id taken

	mustExec(t, db, d, tag, "r1", "111111111111", "ami-1", "image", "a", "1")
	mustExec(t, db, d, tag, "r1", "111111111111", "ami-1", "image", "B", "1")
	mustExec(t, db, d, tag, "r1", "111111111111", "ami-2", "image", "a", "1")
	mustExec(t, db, d, tag, "r2", "111111111111", "ami-1", "image", "a", "1")
	mustFail(t, db, d, true, tag, "r1", "111111111111", "ami-1", "snapshot", "a", "2")

	// Text sorts bytewise, whatever the database's locale.
	rows, err := db.Query(d.Rebind(`SELECT key FROM tags WHERE region = ? AND resource_id = ? ORDER BY key`), "r1", "ami-1")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if !slices.Equal(keys, []string{"B", "a"}) {
		t.Errorf("keys sort as %q, want bytewise [B a]", keys)
	}

	mustExec(t, db, d, sett, "s", []byte{0, 1})
	mustFail(t, db, d, true, sett, "s", []byte{2})
	var v []byte
	if err := db.QueryRow(d.Rebind(`SELECT value FROM settings WHERE key = ?`), "s").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(v, []byte{0, 1}) {
		t.Errorf("setting value %v, want [0 1]", v)
	}
	// BIGINT holds Unix nanoseconds.
	var at int64
	if err := db.QueryRow(d.Rebind(`SELECT created_at FROM accounts WHERE id = ?`), "111111111111").Scan(&at); err != nil {
		t.Fatal(err)
	}
	if at != int64(1)<<62 {
		t.Errorf("created_at %d, want %d", at, int64(1)<<62)
	}
}

// check2 tests the block-storage schema: snapshots with their permissions
// and pending blocks, volumes with their overlays, chunks and block-map
// nodes, with their keys and constraints.
func check2(t *testing.T, db *sql.DB, d *sqldb.Dialect) {
	const (
		snap = insertSnapshot
		perm = `INSERT INTO snapshot_permissions (snapshot_id, account_id, grp) VALUES (?, ?, ?)`
		sblk = `INSERT INTO snapshot_blocks (snapshot_id, block_index, digest, checksum) VALUES (?, ?, ?, ?)`
		vol  = `INSERT INTO volumes (region, account_id, id, availability_zone, size, type, iops, throughput, snapshot_id,
state, base, multi_attach, encrypted, kms_key_id, client_token, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
		vblk  = `INSERT INTO volume_blocks (volume_id, block_index, digest, checksum) VALUES (?, ?, ?, ?)`
		chunk = `INSERT INTO chunks (region, digest, size, stored, gen, state) VALUES (?, ?, ?, ?, ?, ?)`
		node  = `INSERT INTO block_nodes (region, hash, data, gen) VALUES (?, ?, ?, ?)`
	)
	zero := make([]byte, 32)
	d1 := bytes.Repeat([]byte{0xab}, 32)
	d2 := append([]byte{0xff}, zero[1:]...)
	short := []byte{1, 2, 3}
	big := int64(1) << 62
	snapRow := snapshotRow
	volRow := func(region, acct, id string, base []byte) []any {
		return []any{region, acct, id, "r1a", 8, "gp3", 3000, 125, "", "available", base, false, false, "", "tok", big}
	}

	mustExec(t, db, d, snap, snapRow("r1", "111111111111", "snap-1", zero)...)
	mustExec(t, db, d, snap, snapRow("r1", "111111111111", "snap-2", d1)...)
	mustFail(t, db, d, true, snap, snapRow("r2", "222222222222", "snap-1", zero)...) // id unique across regions
	mustFail(t, db, d, false, snap, snapRow("r1", "111111111111", "snap-3", short)...)
	mustFail(t, db, d, false, snap, snapRow("r1", "111111111111", "snap-3", nil)...)
	mustFail(t, db, d, false, snap, snapRow("r1", nil, "snap-3", zero)...)

	mustExec(t, db, d, perm, "snap-1", "222222222222", "")
	mustExec(t, db, d, perm, "snap-1", "", "all")
	mustExec(t, db, d, perm, "snap-2", "222222222222", "")
	mustFail(t, db, d, true, perm, "snap-1", "222222222222", "")
	mustFail(t, db, d, true, perm, "snap-1", "", "all")
	mustFail(t, db, d, false, perm, "snap-1", "", "")                         // neither
	mustFail(t, db, d, false, perm, "snap-1", "333333333333", "all")          // both
	mustFail(t, db, d, false, perm, "snap-1", "", "admins")                   // no such group
	mustFail(t, db, d, false, perm, "snap-9", "333333333333", "")             // no such snapshot
	mustFail(t, db, d, false, `DELETE FROM snapshots WHERE id = ?`, "snap-1") // has permissions

	mustExec(t, db, d, sblk, "snap-1", big, d1, "c")
	mustExec(t, db, d, sblk, "snap-1", 0, zero, "")
	mustExec(t, db, d, sblk, "snap-2", 0, d1, "")
	mustFail(t, db, d, true, sblk, "snap-1", 0, d2, "")
	mustFail(t, db, d, false, sblk, "snap-1", -1, d2, "")
	mustFail(t, db, d, false, sblk, "snap-1", 1, short, "")
	mustFail(t, db, d, false, sblk, "snap-1", 2, nil, "")

	mustExec(t, db, d, vol, volRow("r1", "111111111111", "vol-1", zero)...)
	mustExec(t, db, d, vol, volRow("r1", "111111111111", "vol-2", d2)...)
	mustFail(t, db, d, true, vol, volRow("r2", "222222222222", "vol-1", zero)...)
	mustFail(t, db, d, false, vol, volRow("r1", "111111111111", "vol-3", short)...)
	mustFail(t, db, d, false, vol, volRow("r1", "111111111111", "vol-3", nil)...)

	mustExec(t, db, d, vblk, "vol-1", big, d1, "")
	mustExec(t, db, d, vblk, "vol-1", 0, zero, "")
	mustExec(t, db, d, vblk, "vol-2", 0, zero, "")
	mustFail(t, db, d, true, vblk, "vol-1", 0, d1, "")
	mustFail(t, db, d, false, vblk, "vol-1", -5, d1, "")
	mustFail(t, db, d, false, vblk, "vol-1", 1, short, "")

	mustExec(t, db, d, chunk, "r1", d1, 524288, 1000, big, "live")
	mustExec(t, db, d, chunk, "r2", d1, 524288, 1000, 0, "deleting") // same digest, other region
	mustExec(t, db, d, chunk, "r1", d2, 524288, 1000, 0, "deleting")
	mustFail(t, db, d, true, chunk, "r1", d1, 1, 1, 1, "live")
	mustFail(t, db, d, false, chunk, "r1", zero, 1, 1, 1, "gone")
	mustFail(t, db, d, false, chunk, "r1", short, 1, 1, 1, "live")

	mustExec(t, db, d, node, "r1", d1, []byte{0, 1, 0xff}, big)
	mustExec(t, db, d, node, "r2", d1, []byte{}, 0)
	mustFail(t, db, d, true, node, "r1", d1, []byte{2}, 0)
	mustFail(t, db, d, false, node, "r1", short, []byte{2}, 0)
	mustFail(t, db, d, false, node, "r1", d2, nil, 0)

	// Blobs come back byte for byte, BIGINTs whole, and blobs sort
	// bytewise (0xff after 0xab: unsigned).
	var (
		root, digest []byte
		index, gen   int64
	)
	if err := db.QueryRow(d.Rebind(`SELECT root FROM snapshots WHERE id = ?`), "snap-1").Scan(&root); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(root, zero) {
		t.Errorf("root %x, want 32 zero bytes", root)
	}
	if err := db.QueryRow(d.Rebind(`SELECT block_index, digest FROM volume_blocks WHERE volume_id = ? ORDER BY block_index DESC`), "vol-1").Scan(&index, &digest); err != nil {
		t.Fatal(err)
	}
	if index != big || !bytes.Equal(digest, d1) {
		t.Errorf("volume block %d %x, want %d %x", index, digest, big, d1)
	}
	if err := db.QueryRow(d.Rebind(`SELECT digest, gen FROM chunks WHERE region = ? ORDER BY digest DESC`), "r1").Scan(&digest, &gen); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(digest, d2) || gen != 0 {
		t.Errorf("last chunk %x gen %d, want %x gen 0", digest, gen, d2)
	}
	// The upsert Touch relies on: raise gen of live rows only.
	mustExec(t, db, d, `INSERT INTO chunks (region, digest, size, stored, gen, state) VALUES (?, ?, 1, 1, 7, 'live'), (?, ?, 1, 1, 7, 'live')
ON CONFLICT (region, digest) DO UPDATE SET gen = excluded.gen WHERE chunks.state = 'live' AND chunks.gen < excluded.gen`,
		"r2", d1, "r2", d2)
	rows, err := db.Query(d.Rebind(`SELECT state, gen FROM chunks WHERE region = ? ORDER BY digest`), "r2")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var state string
		if err := rows.Scan(&state, &gen); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprint(state, gen))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if !slices.Equal(got, []string{"deleting0", "live7"}) {
		t.Errorf("chunks after upsert: %q, want [deleting0 live7]", got)
	}
}

const insertSnapshot = `INSERT INTO snapshots (region, account_id, id, volume_id, volume_size, state, state_reason, progress,
description, parent_id, root, completing, client_token, deadline, start_time, data_bytes, encrypted, kms_key_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func snapshotRow(region, acct any, id string, root []byte) []any {
	big := int64(1) << 62
	return []any{region, acct, id, "vol-1", 8, "completed", "", 100, "", "", root, false, "tok", 0, big, big, true, ""}
}

const insertImage = `INSERT INTO images (region, account_id, id, name, owner_alias, state, public, created_at, doc)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`

func imageRow(region, acct any, id string, name any, public bool) []any {
	return []any{region, acct, id, name, "", "available", public, int64(1) << 62, `{"ID":"` + id + `"}`}
}

// check3 tests the images schema: images with a name unique per owner and
// region, the snapshots they use, and their launch permissions.
func check3(t *testing.T, db *sql.DB, d *sqldb.Dialect) {
	const (
		img  = insertImage
		snap = `INSERT INTO image_snapshots (image_id, snapshot_id) VALUES (?, ?)`
		perm = `INSERT INTO image_permissions (image_id, kind, value) VALUES (?, ?, ?)`
	)
	mustExec(t, db, d, img, imageRow("r1", "111111111111", "ami-1", "web", false)...)
	mustExec(t, db, d, img, imageRow("r1", "111111111111", "ami-2", "db", true)...)
	mustExec(t, db, d, img, imageRow("r1", "222222222222", "ami-3", "web", true)...)        // other owner
	mustExec(t, db, d, img, imageRow("r2", "111111111111", "ami-4", "web", false)...)       // other region
	mustExec(t, db, d, img, imageRow("r1", "111111111111", "ami-5", "Web", false)...)       // names are case-sensitive
	mustFail(t, db, d, true, img, imageRow("r1", "111111111111", "ami-6", "web", false)...) // name taken
	mustFail(t, db, d, true, img, imageRow("r2", "222222222222", "ami-1", "x", false)...)   // id unique across regions
	mustFail(t, db, d, false, img, imageRow("r1", nil, "ami-7", "x", false)...)
	mustFail(t, db, d, false, img, imageRow("r1", "111111111111", "ami-7", nil, false)...)
	// A rename onto a taken name.
	mustFail(t, db, d, true, `UPDATE images SET name = ? WHERE id = ?`, "web", "ami-2")

	mustExec(t, db, d, snap, "ami-1", "snap-1")
	mustExec(t, db, d, snap, "ami-1", "snap-2")
	mustExec(t, db, d, snap, "ami-2", "snap-1")
	mustFail(t, db, d, true, snap, "ami-1", "snap-1")
	mustFail(t, db, d, false, snap, "ami-9", "snap-1") // no such image
	mustFail(t, db, d, false, snap, "ami-1", nil)

	const (
		org = "arn:aws:organizations::111111111111:organization/o-1"
		ou  = "arn:aws:organizations::111111111111:ou/o-1/ou-1"
	)
	mustExec(t, db, d, perm, "ami-1", "user", "222222222222")
	mustExec(t, db, d, perm, "ami-1", "group", "all")
	mustExec(t, db, d, perm, "ami-1", "org", org)
	mustExec(t, db, d, perm, "ami-1", "ou", ou)
	mustExec(t, db, d, perm, "ami-2", "user", "222222222222")
	mustFail(t, db, d, true, perm, "ami-1", "user", "222222222222")
	mustFail(t, db, d, true, perm, "ami-1", "group", "all")
	mustFail(t, db, d, false, perm, "ami-1", "group", "admins") // no such group
	mustFail(t, db, d, false, perm, "ami-1", "role", "x")       // no such kind
	mustFail(t, db, d, false, perm, "ami-1", "user", "")
	mustFail(t, db, d, false, perm, "ami-9", "user", "222222222222")      // no such image
	mustFail(t, db, d, false, `DELETE FROM images WHERE id = ?`, "ami-1") // has children

	// The listing shapes the store runs: public images in id order, and
	// images shared with an account.
	var ids []string
	rows, err := db.Query(d.Rebind(`SELECT id FROM images WHERE region = ? AND public = ? ORDER BY id`), "r1", true)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if !slices.Equal(ids, []string{"ami-2", "ami-3"}) {
		t.Errorf("public images %q, want [ami-2 ami-3]", ids)
	}
	var n int
	if err := db.QueryRow(d.Rebind(`SELECT COUNT(*) FROM image_permissions WHERE kind = ? AND value = ?`), "user", "222222222222").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d images shared with 222222222222, want 2", n)
	}
	var doc string
	var at int64
	if err := db.QueryRow(d.Rebind(`SELECT doc, created_at FROM images WHERE id = ?`), "ami-1").Scan(&doc, &at); err != nil {
		t.Fatal(err)
	}
	if doc != `{"ID":"ami-1"}` || at != int64(1)<<62 {
		t.Errorf("doc %q created_at %d", doc, at)
	}
}

// check4 tests organizations: accounts gain an organization and OUs that
// default to none, for rows written before the migration too.
func check4(t *testing.T, db *sql.DB, d *sqldb.Dialect) {
	mustExec(t, db, d, `INSERT INTO accounts (id, name, status, admin, created_at) VALUES (?, ?, ?, ?, ?)`, "444444444444", "dora", "active", false, 0)
	var org, ous string
	if err := db.QueryRow(d.Rebind(`SELECT organization_arn, ou_arns FROM accounts WHERE id = ?`), "444444444444").Scan(&org, &ous); err != nil {
		t.Fatal(err)
	}
	if org != "" || ous != "" {
		t.Fatalf("defaults %q %q", org, ous)
	}
	mustExec(t, db, d, `UPDATE accounts SET organization_arn = ?, ou_arns = ? WHERE id = ?`, "arn:o", "arn:ou1 arn:ou2", "444444444444")
	mustFail(t, db, d, false, `UPDATE accounts SET organization_arn = NULL WHERE id = ?`, "444444444444")
}

// queryStrings runs a query of one text column and returns its rows.
func queryStrings(t *testing.T, db *sql.DB, d *sqldb.Dialect, query string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(d.Rebind(query), args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// check5 tests the image listing indexes: they exist, and the listings
// they serve (images of a region in a state, in id order; an account's
// resources with a tag key and one of some values) answer right.
func check5(t *testing.T, db *sql.DB, d *sqldb.Dialect) {
	var catalog string
	switch d.Name {
	case "sqlite":
		catalog = `SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ('images_by_state', 'tags_by_value') ORDER BY name`
	case "postgres":
		catalog = `SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND indexname IN ('images_by_state', 'tags_by_value') ORDER BY indexname`
	default:
		t.Logf("no catalog query for dialect %q: not checking that the indexes exist", d.Name)
	}
	if catalog != "" {
		if got := queryStrings(t, db, d, catalog); !slices.Equal(got, []string{"images_by_state", "tags_by_value"}) {
			t.Errorf("indexes %q, want [images_by_state tags_by_value]", got)
		}
	}

	row := func(region, acct, id, state string) []any {
		r := imageRow(region, acct, id, id, false)
		r[5] = state
		return r
	}
	mustExec(t, db, d, insertImage, row("r1", "111111111111", "ami-3", "deregistered")...)
	mustExec(t, db, d, insertImage, row("r1", "222222222222", "ami-1", "deregistered")...)
	mustExec(t, db, d, insertImage, row("r1", "111111111111", "ami-2", "available")...)
	mustExec(t, db, d, insertImage, row("r2", "111111111111", "ami-4", "deregistered")...)
	got := queryStrings(t, db, d, `SELECT id FROM images WHERE region = ? AND state = ? ORDER BY id`, "r1", "deregistered")
	if !slices.Equal(got, []string{"ami-1", "ami-3"}) {
		t.Errorf("deregistered images of r1: %q, want [ami-1 ami-3]", got)
	}
	got = queryStrings(t, db, d, `SELECT id FROM images WHERE region = ? AND state = ? AND id > ? ORDER BY id`, "r1", "deregistered", "ami-1")
	if !slices.Equal(got, []string{"ami-3"}) {
		t.Errorf("deregistered images of r1 after ami-1: %q, want [ami-3]", got)
	}

	const tag = `INSERT INTO tags (region, account_id, resource_id, resource_type, key, value) VALUES (?, ?, ?, ?, ?, ?)`
	mustExec(t, db, d, tag, "r1", "111111111111", "ami-3", "image", "env", "prod")
	mustExec(t, db, d, tag, "r1", "111111111111", "ami-2", "image", "env", "prod") // same key and value: not unique
	mustExec(t, db, d, tag, "r1", "111111111111", "ami-9", "image", "env", "test")
	mustExec(t, db, d, tag, "r1", "111111111111", "ami-8", "image", "env", "Prod")
	mustExec(t, db, d, tag, "r1", "111111111111", "ami-3", "image", "team", "prod")
	mustExec(t, db, d, tag, "r1", "222222222222", "ami-1", "image", "env", "prod")
	mustExec(t, db, d, tag, "r2", "111111111111", "ami-4", "image", "env", "prod")
	got = queryStrings(t, db, d, `SELECT resource_id FROM tags WHERE region = ? AND account_id = ? AND key = ? AND value IN (?, ?)
ORDER BY resource_id`, "r1", "111111111111", "env", "prod", "test")
	if !slices.Equal(got, []string{"ami-2", "ami-3", "ami-9"}) {
		t.Errorf("resources tagged env=prod or test: %q, want [ami-2 ami-3 ami-9]", got)
	}
	// The lookup as Images.List writes it.
	got = queryStrings(t, db, d, `SELECT i.id FROM images i WHERE i.region = ?
AND i.id IN (SELECT resource_id FROM tags WHERE region = ? AND account_id = ? AND key = ? AND value IN (?))
ORDER BY i.id`, "r1", "r1", "111111111111", "env", "prod")
	if !slices.Equal(got, []string{"ami-2", "ami-3"}) {
		t.Errorf("images tagged env=prod: %q, want [ami-2 ami-3]", got)
	}
}

// check6 tests the instances table and volume attachments: instance ids
// unique across regions, the columns not null, a volume recorded before
// attachments existed reads as detached, and volumes found by instance.
func check6(t *testing.T, db *sql.DB, d *sqldb.Dialect) {
	const (
		inst = `INSERT INTO instances (region, account_id, id, reservation_id, image_id, state, client_token, doc)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
		vol = `INSERT INTO volumes (region, account_id, id, availability_zone, size, type, iops, throughput, snapshot_id,
state, base, multi_attach, encrypted, kms_key_id, client_token, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	)
	mustExec(t, db, d, inst, "r1", "111111111111", "i-1", "r-1", "ami-1", "running", "", "{}")
	mustExec(t, db, d, inst, "r1", "111111111111", "i-2", "r-1", "ami-1", "pending", "tok", "{}")
	mustFail(t, db, d, true, inst, "r2", "222222222222", "i-1", "r-2", "ami-1", "running", "", "{}")
	mustFail(t, db, d, false, inst, "r1", "111111111111", "i-3", "r-1", "ami-1", nil, "", "{}")
	mustFail(t, db, d, false, inst, "r1", "111111111111", "i-3", "r-1", "ami-1", "running", "", nil)
	got := queryStrings(t, db, d, `SELECT id FROM instances WHERE state IN (?, ?) AND region = ? ORDER BY id`, "pending", "running", "r1")
	if !slices.Equal(got, []string{"i-1", "i-2"}) {
		t.Errorf("instances by state: %q, want [i-1 i-2]", got)
	}

	zero := make([]byte, 32)
	mustExec(t, db, d, vol, "r1", "111111111111", "vol-1", "r1a", 8, "gp3", 3000, 125, "", "available", zero, false, false, "", "", 1)
	got = queryStrings(t, db, d, `SELECT instance_id || '|' || device || '|' || CAST(attach_time AS TEXT) FROM volumes WHERE id = ?`, "vol-1")
	if !slices.Equal(got, []string{"||0"}) {
		t.Errorf("attachment of a volume written without one: %q, want [||0]", got)
	}
	mustExec(t, db, d, `UPDATE volumes SET instance_id = ?, device = ?, attach_time = ?, delete_on_termination = ? WHERE id = ?`,
		"i-1", "/dev/xvda", 5, true, "vol-1")
	got = queryStrings(t, db, d, `SELECT id FROM volumes WHERE instance_id = ? AND delete_on_termination = ? ORDER BY device`, "i-1", true)
	if !slices.Equal(got, []string{"vol-1"}) {
		t.Errorf("volumes of i-1: %q, want [vol-1]", got)
	}
	mustFail(t, db, d, false, `UPDATE volumes SET instance_id = NULL WHERE id = ?`, "vol-1")
}

// check7 tests the KMS tables: key ids are unique across regions, states
// are checked, an alias name is unique per account and region and must
// name an existing key, and the indexes serve the listings by owner,
// deletion date and target key.
func check7(t *testing.T, db *sql.DB, d *sqldb.Dialect) {
	const (
		key = `INSERT INTO kms_keys (region, account_id, id, state, deletion_date, created_at, sealed_material, doc)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
		alias = `INSERT INTO kms_aliases (region, account_id, name, target_key_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`
	)
	sealed := []byte{1, 2, 3}
	mustExec(t, db, d, key, "r1", "111111111111", "k-2", "Enabled", 0, 1, sealed, "{}")
	mustExec(t, db, d, key, "r1", "111111111111", "k-1", "PendingDeletion", 50, 1, sealed, "{}")
	mustExec(t, db, d, key, "r1", "222222222222", "k-3", "PendingDeletion", 10, 1, sealed, "{}")
	mustFail(t, db, d, true, key, "r2", "111111111111", "k-1", "Enabled", 0, 1, sealed, "{}")
	mustFail(t, db, d, false, key, "r1", "111111111111", "k-4", "Creating", 0, 1, sealed, "{}")
	mustFail(t, db, d, false, key, "r1", "111111111111", "k-4", "Enabled", 0, 1, nil, "{}")
	mustFail(t, db, d, false, key, "r1", "111111111111", "k-4", "Enabled", 0, 1, sealed, nil)
	got := queryStrings(t, db, d, `SELECT id FROM kms_keys WHERE region = ? AND account_id = ? AND id > ? ORDER BY id`, "r1", "111111111111", "")
	if !slices.Equal(got, []string{"k-1", "k-2"}) {
		t.Errorf("keys of an account: %q, want [k-1 k-2]", got)
	}
	got = queryStrings(t, db, d, `SELECT id FROM kms_keys WHERE region = ? AND state = ? AND deletion_date <= ? ORDER BY id`, "r1", "PendingDeletion", 20)
	if !slices.Equal(got, []string{"k-3"}) {
		t.Errorf("keys due for deletion: %q, want [k-3]", got)
	}

	mustExec(t, db, d, alias, "r1", "111111111111", "alias/b", "k-2", 1, 1)
	mustExec(t, db, d, alias, "r1", "111111111111", "alias/a", "k-2", 1, 1)
	mustExec(t, db, d, alias, "r1", "222222222222", "alias/a", "k-3", 1, 1)
	mustExec(t, db, d, alias, "r2", "111111111111", "alias/a", "k-1", 1, 1)
	mustFail(t, db, d, true, alias, "r1", "111111111111", "alias/a", "k-1", 1, 1)
	mustFail(t, db, d, false, alias, "r1", "111111111111", "alias/c", "k-none", 1, 1)
	got = queryStrings(t, db, d, `SELECT name FROM kms_aliases WHERE target_key_id = ? ORDER BY name`, "k-2")
	if !slices.Equal(got, []string{"alias/a", "alias/b"}) {
		t.Errorf("aliases of k-2: %q, want [alias/a alias/b]", got)
	}
	mustFail(t, db, d, false, `DELETE FROM kms_keys WHERE id = ?`, "k-2")
}

// check8 tests the KMS grants table: grant ids are unique across regions,
// a grant must name an existing key, which cannot be deleted under it,
// every column is required, and the indexes serve the listings by key,
// grantee account and retiring principal.
func check8(t *testing.T, db *sql.DB, d *sqldb.Dialect) {
	const (
		key = `INSERT INTO kms_keys (region, account_id, id, state, deletion_date, created_at, sealed_material, doc)
VALUES (?, ?, ?, 'Enabled', 0, 1, ?, '{}')`
		grant = `INSERT INTO kms_grants (region, id, key_id, account_id, name, grantee_principal, grantee_account,
retiring_principal, created_at, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	)
	sealed := []byte{1}
	mustExec(t, db, d, key, "r1", "111111111111", "k-1", sealed)
	mustExec(t, db, d, key, "r1", "111111111111", "k-2", sealed)
	const owner, friend = "111111111111", "222222222222"
	friendRoot := "arn:aws:iam::" + friend + ":root"
	mustExec(t, db, d, grant, "r1", "g-2", "k-1", owner, "", friendRoot, friend, "", 1, `{"operations":["Encrypt"]}`)
	mustExec(t, db, d, grant, "r1", "g-1", "k-1", owner, "n", friendRoot, friend, friendRoot, 1, `{}`)
	mustExec(t, db, d, grant, "r1", "g-3", "k-1", owner, "", "arn:aws:iam::"+owner+":root", owner, friendRoot, 1, `{}`)
	mustExec(t, db, d, grant, "r1", "g-4", "k-2", owner, "", friendRoot, friend, "", 1, `{}`)
	mustFail(t, db, d, true, grant, "r2", "g-1", "k-1", owner, "", friendRoot, friend, "", 1, `{}`)
	mustFail(t, db, d, false, grant, "r1", "g-5", "k-none", owner, "", friendRoot, friend, "", 1, `{}`)
	mustFail(t, db, d, false, grant, "r1", "g-5", "k-1", owner, nil, friendRoot, friend, "", 1, `{}`)
	mustFail(t, db, d, false, grant, "r1", "g-5", "k-1", owner, "", friendRoot, friend, nil, 1, `{}`)
	mustFail(t, db, d, false, grant, "r1", "g-5", "k-1", owner, "", friendRoot, friend, "", 1, nil)
	for _, c := range []struct {
		query string
		args  []any
		want  []string
	}{
		{`SELECT id FROM kms_grants WHERE key_id = ? AND id > ? ORDER BY id`, []any{"k-1", ""}, []string{"g-1", "g-2", "g-3"}},
		{`SELECT id FROM kms_grants WHERE key_id = ? AND grantee_account = ? ORDER BY id`, []any{"k-1", friend}, []string{"g-1", "g-2"}},
		{`SELECT id FROM kms_grants WHERE region = ? AND retiring_principal = ? ORDER BY id`, []any{"r1", friendRoot}, []string{"g-1", "g-3"}},
	} {
		if got := queryStrings(t, db, d, c.query, c.args...); !slices.Equal(got, c.want) {
			t.Errorf("%s %v: %q, want %q", c.query, c.args, got, c.want)
		}
	}
	mustFail(t, db, d, false, `DELETE FROM kms_keys WHERE id = ?`, "k-2")
	mustExec(t, db, d, `DELETE FROM kms_grants WHERE key_id = ?`, "k-2")
	mustExec(t, db, d, `DELETE FROM kms_keys WHERE id = ?`, "k-2")
}
