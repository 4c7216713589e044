package sqldb

import (
	"database/sql"
	"strconv"
	"strings"
)

// Dialect describes what differs between the SQL databases sqldb runs on.
// The SQL in this package is written once, with ? placeholders and the type
// tokens {{text}}, {{blob}} and {{clustered}} in migrations; a Dialect
// adapts it. Everything
// a Dialect holds is read-only after the Store is opened.
type Dialect struct {
	// Name names the database in error messages: "sqlite", "postgres".
	Name string

	// Numbered is true when the driver wants $1, $2, … rather than ?.
	Numbered bool

	// Text and Blob are the column types that {{text}} and {{blob}} stand
	// for in migrations. Text must compare and sort bytewise (PostgreSQL:
	// TEXT COLLATE "C"), so that every back end pages through tags in the
	// same order whatever locale the database was created with.
	Text string
	Blob string

	// Clustered is what {{clustered}} stands for at the end of the CREATE
	// TABLE of a table with small rows that is read and written only by
	// its primary key, on the hot paths of block storage: SQLite's WITHOUT
	// ROWID, which keeps the rows in the primary key's B-tree and so
	// saves one B-tree per lookup and per write. Empty elsewhere.
	Clustered string

	// ReadTx and WriteTx are the options View and Update begin their
	// transactions with.
	ReadTx  sql.TxOptions
	WriteTx sql.TxOptions
	// SerialTx begins ViewSerial's transactions: a statement run first in
	// a transaction begun with default options ("" to use ReadTx alone,
	// when every transaction is serial anyway, as on SQLite).
	SerialTx string

	// LockMigrations, when not empty, is run first in every migration
	// transaction, to make concurrent migrators (a server and an admin CLI
	// starting together) wait for each other rather than race on DDL.
	LockMigrations string

	// IsUniqueViolation reports whether err is a unique or primary key
	// constraint violation.
	IsUniqueViolation func(error) bool

	// IsRetryable reports whether err means the transaction lost a race
	// with a concurrent one and would likely succeed if run again
	// (serialization failure, deadlock). Nil means never.
	IsRetryable func(error) bool

	// MaxAttempts bounds how many times Update runs a function whose
	// transaction keeps failing with retryable errors; 0 or 1 means once.
	MaxAttempts int

	// GroupCommit makes Update commit the functions of concurrent callers
	// together, each in a savepoint of one transaction, so that they share
	// one commit and its sync to disk (see group.go). It suits a database
	// with a single writer, where writers queue anyway and each commit
	// costs an fsync: SQLite. A dialect with GroupCommit must have no
	// retryable errors.
	GroupCommit bool

	// Now is an SQL expression for the database's clock in microseconds
	// since the Unix epoch: the only clock leases are measured by
	// (metadata.Leases), so that nodes whose clocks differ agree.
	Now string
	// ShareLock ends a SELECT that must keep the rows it read from changing
	// until the transaction ends (PostgreSQL's FOR SHARE): the fencing
	// check of a lease, so that a takeover waits for the work it fences
	// to commit. Empty where a writer excludes all others anyway (SQLite).
	ShareLock string
}

// Rebind returns query with its ? placeholders rewritten for the dialect.
// Question marks inside quoted strings and identifiers are left alone.
func (d *Dialect) Rebind(query string) string {
	if !d.Numbered || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// expand replaces the tokens of a migration with the dialect's types and
// table options.
func (d *Dialect) expand(ddl string) string {
	return strings.NewReplacer("{{text}}", d.Text, "{{blob}}", d.Blob, "{{clustered}}", d.Clustered).Replace(ddl)
}

func (d *Dialect) unique(err error) bool {
	return err != nil && d.IsUniqueViolation != nil && d.IsUniqueViolation(err)
}

func (d *Dialect) retryable(err error) bool {
	return err != nil && d.IsRetryable != nil && d.IsRetryable(err)
}
