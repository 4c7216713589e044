package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// TestStatementCache runs a query again while its own rows are open (the
// cached statement is busy, so the second run must not reset the first),
// runs more query shapes than the cache keeps, and checks that a cached
// statement sees rows written after it was prepared.
func TestStatementCache(t *testing.T) {
	ctx := context.Background()
	db, err := openDB(filepath.Join(t.TempDir(), "cache.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // every statement on one connection
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (x INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	for x := range 5 {
		if _, err := db.ExecContext(ctx, `INSERT INTO t (x) VALUES (?)`, x); err != nil {
			t.Fatal(err)
		}
	}

	const q = `SELECT x FROM t WHERE x >= ? ORDER BY x`
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := tx.QueryContext(ctx, q, 0)
	if err != nil {
		t.Fatal(err)
	}
	var outer, inner []int
	for rows.Next() {
		var x int
		if err := rows.Scan(&x); err != nil {
			t.Fatal(err)
		}
		outer = append(outer, x)
		var y int
		if err := tx.QueryRowContext(ctx, q, x).Scan(&y); err != nil {
			t.Fatal(err)
		}
		inner = append(inner, y)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(outer) != "[0 1 2 3 4]" || fmt.Sprint(inner) != "[0 1 2 3 4]" {
		t.Fatalf("outer %v, inner %v: a nested run of the same statement disturbed the first", outer, inner)
	}

	for n := range stmtCacheSize + 10 {
		var got int
		query := fmt.Sprintf(`SELECT count(*) + %d FROM t`, n)
		if err := db.QueryRowContext(ctx, query).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != 5+n {
			t.Fatalf("%s = %d, want %d", query, got, 5+n)
		}
	}

	if _, err := db.ExecContext(ctx, `INSERT INTO t (x) VALUES (?)`, 99); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) + 0 FROM t`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Fatalf("count after an insert through the cached statement = %d, want 6", n)
	}
}
