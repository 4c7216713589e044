package main

import (
	"strings"

	"github.com/openami/openami/metadata/postgres"
	"github.com/openami/openami/service"
)

// wakeups returns the wake-ups between nodes (service.Wakeups) of the
// configured database: LISTEN/NOTIFY on PostgreSQL; none on SQLite,
// where one node does everything and its own kicks suffice. The sending
// connection lives as long as the process.
func (c *config) wakeups() service.Wakeups {
	if c.database == "" || !(strings.HasPrefix(c.database, "postgres://") || strings.HasPrefix(c.database, "postgresql://") || strings.Contains(c.database, "=")) {
		return nil
	}
	return postgres.NewWakeups(c.database)
}
