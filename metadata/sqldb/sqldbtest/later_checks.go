// The checks of migrations 9 onward: networks, public addresses, object
// storage, certificates and the later services' tables (launch templates,
// parameters, bundle, Auto Scaling, import and export tasks).

package sqldbtest

import (
	"database/sql"
	"slices"
	"testing"

	"github.com/openami/openami/metadata/sqldb"
)

// check9 tests the network tables: ids are unique, a security group's
// name is unique within its VPC (not across VPCs), and the listings'
// indexes answer in id order.
func check9(t *testing.T, db *sql.DB, d *sqldb.Dialect) {
	const (
		vpc    = `INSERT INTO vpcs (region, account_id, id, doc) VALUES (?, ?, ?, ?)`
		subnet = `INSERT INTO subnets (region, account_id, id, vpc_id, doc) VALUES (?, ?, ?, ?, ?)`
		group  = `INSERT INTO security_groups (region, account_id, id, vpc_id, name, doc) VALUES (?, ?, ?, ?, ?, ?)`
	)
	const acct = "111111111111"
	mustExec(t, db, d, vpc, "r1", acct, "vpc-2", `{}`)
	mustExec(t, db, d, vpc, "r1", acct, "vpc-1", `{}`)
	mustFail(t, db, d, true, vpc, "r2", acct, "vpc-1", `{}`)
	mustFail(t, db, d, false, vpc, "r1", acct, "vpc-3", nil)
	mustExec(t, db, d, subnet, "r1", acct, "subnet-2", "vpc-1", `{}`)
	mustExec(t, db, d, subnet, "r1", acct, "subnet-1", "vpc-1", `{}`)
	mustFail(t, db, d, true, subnet, "r1", acct, "subnet-1", "vpc-2", `{}`)
	mustExec(t, db, d, group, "r1", acct, "sg-1", "vpc-1", "default", `{}`)
	mustExec(t, db, d, group, "r1", acct, "sg-2", "vpc-2", "default", `{}`)
	mustFail(t, db, d, true, group, "r1", acct, "sg-3", "vpc-1", "default", `{}`)
	mustFail(t, db, d, true, group, "r1", acct, "sg-1", "vpc-3", "web", `{}`)
	for _, c := range []struct {
		query string
		args  []any
		want  []string
	}{
		{`SELECT id FROM vpcs WHERE region = ? AND account_id = ? ORDER BY id`, []any{"r1", acct}, []string{"vpc-1", "vpc-2"}},
		{`SELECT id FROM subnets WHERE vpc_id = ? ORDER BY id`, []any{"vpc-1"}, []string{"subnet-1", "subnet-2"}},
		{`SELECT id FROM security_groups WHERE region = ? AND account_id = ? AND id > ? ORDER BY id`, []any{"r1", acct, "sg-1"}, []string{"sg-2"}},
	} {
		if got := queryStrings(t, db, d, c.query, c.args...); !slices.Equal(got, c.want) {
			t.Errorf("%s %v: %q, want %q", c.query, c.args, got, c.want)
		}
	}
}

// check10: instances' public addresses: ” for instances written before
// (and those holding none, any number of them), unique otherwise.
func check10(t *testing.T, db *sql.DB, d *sqldb.Dialect) {
	const inst = `INSERT INTO instances (region, account_id, id, reservation_id, image_id, state, client_token, doc)
VALUES (?, ?, ?, 'r-1', 'ami-1', 'running', '', '{}')`
	mustExec(t, db, d, inst, "r1", "111111111111", "i-1")
	mustExec(t, db, d, inst, "r2", "222222222222", "i-2")
	mustExec(t, db, d, inst, "r1", "111111111111", "i-3")
	if got := queryStrings(t, db, d, `SELECT id FROM instances WHERE public_ip = ? ORDER BY id`, ""); !slices.Equal(got, []string{"i-1", "i-2", "i-3"}) {
		t.Errorf("instances without a public address: %q", got)
	}
	mustExec(t, db, d, `UPDATE instances SET public_ip = ? WHERE id = ?`, "127.77.0.4", "i-1")
	mustFail(t, db, d, true, `UPDATE instances SET public_ip = ? WHERE id = ?`, "127.77.0.4", "i-2")
	mustFail(t, db, d, false, `UPDATE instances SET public_ip = NULL WHERE id = ?`, "i-2")
	mustExec(t, db, d, `UPDATE instances SET public_ip = ? WHERE id = ?`, "127.77.0.5", "i-2")
	if got := queryStrings(t, db, d, `SELECT public_ip FROM instances WHERE public_ip <> '' ORDER BY public_ip`); !slices.Equal(got, []string{"127.77.0.4", "127.77.0.5"}) {
		t.Errorf("public addresses: %q", got)
	}
}

// check11: object storage. Bucket names and ids are unique; objects and
// uploads belong to a bucket that exists; keys order byte by byte (so
// that "a/b" < "a0" < "a\xc3\xa9" on every database), and parts to an
// upload that exists.
func check11(t *testing.T, db *sql.DB, d *sqldb.Dialect) {
	const (
		bucket = `INSERT INTO buckets (name, id, region, account_id, created_at, doc) VALUES (?, ?, 'r1', ?, 0, '{}')`
		object = `INSERT INTO objects (bucket_id, key_bytes, doc) VALUES (?, ?, '{}')`
		upload = `INSERT INTO uploads (bucket_id, id, key_bytes, doc) VALUES (?, ?, ?, '{}')`
		part   = `INSERT INTO upload_parts (upload_id, number, blob_key, doc) VALUES (?, ?, ?, '{}')`
	)
	mustExec(t, db, d, bucket, "b1", "id1", "111111111111")
	mustFail(t, db, d, true, bucket, "b1", "id2", "222222222222")
	mustFail(t, db, d, true, bucket, "b2", "id1", "222222222222")
	for _, k := range []string{"a\xc3\xa9", "a0", "a/b", "Z"} {
		mustExec(t, db, d, object, "id1", []byte(k))
	}
	mustFail(t, db, d, true, object, "id1", []byte("a0"))
	mustFail(t, db, d, false, object, "nobucket", []byte("x"))
	rows, err := db.Query(d.Rebind(`SELECT key_bytes FROM objects WHERE bucket_id = ? AND key_bytes > ? ORDER BY key_bytes`), "id1", []byte("Z"))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for rows.Next() {
		var k []byte
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, string(k))
	}
	rows.Close()
	if want := []string{"a/b", "a0", "a\xc3\xa9"}; !slices.Equal(keys, want) {
		t.Errorf("keys after Z: %q, want %q", keys, want)
	}
	mustExec(t, db, d, upload, "id1", "u1", []byte("big"))
	mustFail(t, db, d, false, upload, "nobucket", "u2", []byte("big"))
	mustExec(t, db, d, part, "u1", 1, "objects/id1/p1")
	mustFail(t, db, d, true, part, "u1", 1, "objects/id1/p2")
	mustFail(t, db, d, false, part, "u9", 1, "objects/id1/p3")
}

// check12: signing certificates belong to an existing account, and an
// account holds a certificate (by fingerprint) once; region keys are one
// per region.
func check12(t *testing.T, db *sql.DB, d *sqldb.Dialect) {
	const acct = `INSERT INTO accounts (id, name, status, admin, created_at) VALUES (?, ?, 'active', FALSE, 0)`
	mustExec(t, db, d, acct, "111111111111", "one")
	mustExec(t, db, d, acct, "222222222222", "two")
	const cert = `INSERT INTO signing_certificates (account_id, id, fingerprint, body, status, uploaded_at) VALUES (?, ?, ?, 'pem', 'Active', ?)`
	mustExec(t, db, d, cert, "111111111111", "CERTA", "f1", 2)
	mustExec(t, db, d, cert, "111111111111", "CERTB", "f2", 1)
	mustExec(t, db, d, cert, "222222222222", "CERTC", "f1", 3)
	mustFail(t, db, d, true, cert, "111111111111", "CERTD", "f1", 4)
	mustFail(t, db, d, true, cert, "222222222222", "CERTA", "f9", 4)
	mustFail(t, db, d, false, cert, "333333333333", "CERTE", "f1", 4)
	if got := queryStrings(t, db, d, `SELECT id FROM signing_certificates WHERE account_id = ? ORDER BY uploaded_at, id`, "111111111111"); !slices.Equal(got, []string{"CERTB", "CERTA"}) {
		t.Errorf("certificates of 111111111111: %q", got)
	}
	const key = `INSERT INTO region_keys (region, certificate, sealed_key, created_at) VALUES (?, 'pem', ?, 0)`
	mustExec(t, db, d, key, "r1", []byte{1})
	mustExec(t, db, d, key, "r2", []byte{2})
	mustFail(t, db, d, true, key, "r1", []byte{3})
	if got := queryStrings(t, db, d, `SELECT region FROM region_keys ORDER BY region`); !slices.Equal(got, []string{"r1", "r2"}) {
		t.Errorf("region keys: %q", got)
	}
}

// check13: launch templates: ids unique everywhere, a name unique per
// account and region, a version number unique within its template, and
// versions belong to an existing template.
func check13(t *testing.T, db *sql.DB, d *sqldb.Dialect) {
	const (
		lt  = `INSERT INTO launch_templates (region, account_id, id, name, doc) VALUES (?, ?, ?, ?, '{}')`
		ver = `INSERT INTO launch_template_versions (template_id, version, doc) VALUES (?, ?, '{}')`
	)
	mustExec(t, db, d, lt, "r1", "111111111111", "lt-2", "web")
	mustExec(t, db, d, lt, "r1", "111111111111", "lt-1", "db")
	mustExec(t, db, d, lt, "r2", "111111111111", "lt-3", "web")
	mustExec(t, db, d, lt, "r1", "222222222222", "lt-4", "web")
	mustFail(t, db, d, true, lt, "r1", "111111111111", "lt-5", "web")
	mustFail(t, db, d, true, lt, "r3", "333333333333", "lt-1", "x")
	mustExec(t, db, d, ver, "lt-1", 2)
	mustExec(t, db, d, ver, "lt-1", 1)
	mustExec(t, db, d, ver, "lt-2", 1)
	mustFail(t, db, d, true, ver, "lt-1", 1)
	mustFail(t, db, d, false, ver, "lt-9", 1)
	if got := queryStrings(t, db, d, `SELECT id FROM launch_templates WHERE region = ? AND account_id = ? ORDER BY id`, "r1", "111111111111"); !slices.Equal(got, []string{"lt-1", "lt-2"}) {
		t.Errorf("templates of 111111111111 in r1: %q", got)
	}
	if got := queryStrings(t, db, d, `SELECT doc FROM launch_template_versions WHERE template_id = ? AND version > ? ORDER BY version`, "lt-1", 1); len(got) != 1 {
		t.Errorf("versions of lt-1 after 1: %q", got)
	}
}

// check14: a parameter's versions are one row each, keyed by region,
// account and name; the operator's public ones (an empty account_id) need no
// account.
func check14(t *testing.T, db *sql.DB, d *sqldb.Dialect) {
	const put = `INSERT INTO parameters (region, account_id, name, version, doc) VALUES (?, ?, ?, ?, '{}')`
	mustExec(t, db, d, put, "r1", "111111111111", "/a/b", 1)
	mustExec(t, db, d, put, "r1", "111111111111", "/a/b", 2)
	mustExec(t, db, d, put, "r1", "222222222222", "/a/b", 1)
	mustExec(t, db, d, put, "r2", "111111111111", "/a/b", 1)
	mustExec(t, db, d, put, "r1", "", "/aws/service/x", 1)
	mustFail(t, db, d, true, put, "r1", "111111111111", "/a/b", 2)
	if got := queryStrings(t, db, d, `SELECT account_id FROM parameters WHERE region = ? AND name = ? AND version = 1 ORDER BY account_id`, "r1", "/a/b"); !slices.Equal(got, []string{"111111111111", "222222222222"}) {
		t.Errorf("accounts with /a/b: %q", got)
	}
}

// check15: a bundle task's id is unique; the index by state finds the
// tasks still to run.
func check15(t *testing.T, db *sql.DB, d *sqldb.Dialect) {
	const task = `INSERT INTO bundle_tasks (region, id, account_id, state, doc) VALUES (?, ?, ?, ?, '{}')`
	mustExec(t, db, d, task, "r1", "bun-1", "111111111111", "bundling")
	mustExec(t, db, d, task, "r1", "bun-2", "111111111111", "complete")
	mustExec(t, db, d, task, "r2", "bun-3", "222222222222", "pending")
	mustFail(t, db, d, true, task, "r2", "bun-1", "222222222222", "pending")
	if got := queryStrings(t, db, d, `SELECT id FROM bundle_tasks WHERE state NOT IN ('complete', 'failed') ORDER BY region, id`); !slices.Equal(got, []string{"bun-1", "bun-3"}) {
		t.Errorf("active bundle tasks: %q", got)
	}
}

// check16: Auto Scaling groups: a name unique per account and
// region, the same name free in another account or region.
func check16(t *testing.T, db *sql.DB, d *sqldb.Dialect) {
	const g = `INSERT INTO autoscaling_groups (region, account_id, name, doc) VALUES (?, ?, ?, '{}')`
	mustExec(t, db, d, g, "r1", "111111111111", "web")
	mustExec(t, db, d, g, "r1", "111111111111", "db")
	mustExec(t, db, d, g, "r2", "111111111111", "web")
	mustExec(t, db, d, g, "r1", "222222222222", "web")
	mustFail(t, db, d, true, g, "r1", "111111111111", "web")
	if got := queryStrings(t, db, d, `SELECT name FROM autoscaling_groups WHERE region = ? AND account_id = ? ORDER BY name`, "r1", "111111111111"); !slices.Equal(got, []string{"db", "web"}) {
		t.Errorf("groups of 111111111111 in r1: %q", got)
	}
}

// check17: import tasks are one row each, keyed by region and id.
func check17(t *testing.T, db *sql.DB, d *sqldb.Dialect) {
	const put = `INSERT INTO import_tasks (region, id, account_id, doc) VALUES (?, ?, ?, '{}')`
	mustExec(t, db, d, put, "r1", "import-snap-1", "111111111111")
	mustExec(t, db, d, put, "r2", "import-snap-1", "111111111111")
	mustFail(t, db, d, true, put, "r1", "import-snap-1", "222222222222")
	if got := queryStrings(t, db, d, `SELECT region FROM import_tasks WHERE id = ? ORDER BY region`, "import-snap-1"); !slices.Equal(got, []string{"r1", "r2"}) {
		t.Errorf("regions with import-snap-1: %q", got)
	}
}

// check18: export tasks are one row each, keyed by id, selectable by
// owner and by state.
func check18(t *testing.T, db *sql.DB, d *sqldb.Dialect) {
	const put = `INSERT INTO export_tasks (region, account_id, id, state, doc) VALUES (?, ?, ?, ?, '{}')`
	mustExec(t, db, d, put, "r1", "111111111111", "export-ami-1", "active")
	mustExec(t, db, d, put, "r1", "111111111111", "export-ami-2", "completed")
	mustFail(t, db, d, true, put, "r2", "222222222222", "export-ami-1", "active")
	if got := queryStrings(t, db, d, `SELECT id FROM export_tasks WHERE state = ? ORDER BY id`, "active"); !slices.Equal(got, []string{"export-ami-1"}) {
		t.Errorf("active tasks: %q", got)
	}
}

// check19: a lease is one row per name; holder, epoch and expires are
// required.
func check19(t *testing.T, db *sql.DB, d *sqldb.Dialect) {
	const put = `INSERT INTO leases (name, holder, epoch, expires) VALUES (?, ?, ?, ?)`
	mustExec(t, db, d, put, "copy/snap-1", "node-a", 1, 1000)
	mustExec(t, db, d, put, "copy/snap-2", "", 3, 0)
	mustFail(t, db, d, true, put, "copy/snap-1", "node-b", 2, 2000)
	mustFail(t, db, d, false, put, "copy/snap-3", nil, 1, 1000)
	if got := queryStrings(t, db, d, `SELECT name FROM leases WHERE holder = ? ORDER BY name`, "node-a"); !slices.Equal(got, []string{"copy/snap-1"}) {
		t.Errorf("leases of node-a: %q", got)
	}
}

// check20: snapshots keep their rows with an empty tiering and no due
// step; a due step is selectable through the partial index.
func check20(t *testing.T, db *sql.DB, d *sqldb.Dialect) {
	if got := queryStrings(t, db, d, `SELECT id FROM snapshots WHERE tiering <> '' OR tiering_due <> 0`); len(got) != 0 {
		t.Errorf("snapshots with a tiering after the migration: %q", got)
	}
	if got := queryStrings(t, db, d, `SELECT id FROM snapshots WHERE tiering_due > 0 AND tiering_due <= ?`, int64(1)); len(got) != 0 {
		t.Errorf("due snapshots: %q", got)
	}
}

// check21: hosts are one row each, keyed by id.
func check21(t *testing.T, db *sql.DB, d *sqldb.Dialect) {
	const put = `INSERT INTO hosts (id, doc) VALUES (?, '{}')`
	mustExec(t, db, d, put, "h-1")
	mustExec(t, db, d, put, "h-2")
	mustFail(t, db, d, true, put, "h-1")
	if got := queryStrings(t, db, d, `SELECT id FROM hosts ORDER BY id`); !slices.Equal(got, []string{"h-1", "h-2"}) {
		t.Errorf("hosts: %q", got)
	}
}
