package sqldb

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/openami/openami"
)

// leases is metadata.Leases. Times are microseconds since the Unix epoch
// by the database's clock (the dialect's Now): a node's own clock never
// decides when a lease expires.
type leases struct{ t *tx }

// micros is a duration in the leases table's unit.
func micros(d time.Duration) int64 { return d.Microseconds() }

func (l leases) Acquire(name, holder string, ttl time.Duration) (openami.Lease, bool, error) {
	now := l.t.d.Now
	// Take it if new, or free (released or expired), or already ours: the
	// epoch stays only when it is ours and not expired.
	n, err := l.t.execN(`INSERT INTO leases (name, holder, epoch, expires) VALUES (?, ?, 1, `+now+` + ?)
ON CONFLICT (name) DO UPDATE SET
	epoch = CASE WHEN leases.holder = excluded.holder AND leases.expires > `+now+` THEN leases.epoch ELSE leases.epoch + 1 END,
	holder = excluded.holder,
	expires = excluded.expires
WHERE leases.holder = excluded.holder OR leases.holder = '' OR leases.expires <= `+now,
		name, holder, micros(ttl))
	if err != nil {
		return openami.Lease{}, false, fmt.Errorf("sqldb: acquire lease %s: %w", name, err)
	}
	cur, err := l.Get(name)
	if err != nil {
		return openami.Lease{}, false, fmt.Errorf("sqldb: acquire lease: %w", err)
	}
	return cur, n > 0, nil
}

func (l leases) Renew(name, holder string, epoch int64, ttl time.Duration) (bool, error) {
	now := l.t.d.Now
	n, err := l.t.execN(`UPDATE leases SET expires = `+now+` + ?
WHERE name = ? AND holder = ? AND epoch = ? AND expires > `+now, micros(ttl), name, holder, epoch)
	if err != nil {
		return false, fmt.Errorf("sqldb: renew lease %s: %w", name, err)
	}
	return n > 0, nil
}

func (l leases) Release(name, holder string, epoch int64) error {
	if _, err := l.t.exec(`UPDATE leases SET holder = '', expires = `+l.t.d.Now+` WHERE name = ? AND holder = ? AND epoch = ?`,
		name, holder, epoch); err != nil {
		return fmt.Errorf("sqldb: release lease %s: %w", name, err)
	}
	return nil
}

func (l leases) Purge(releasedFor time.Duration) (int, error) {
	n, err := l.t.execN(`DELETE FROM leases WHERE holder = '' AND expires < `+l.t.d.Now+` - ?`, micros(releasedFor))
	if err != nil {
		return 0, fmt.Errorf("sqldb: purge leases: %w", err)
	}
	return int(n), nil
}

func (l leases) Held(name, holder string, epoch int64) (bool, error) {
	var one int
	err := l.t.get(`SELECT 1 FROM leases WHERE name = ? AND holder = ? AND epoch = ? AND expires > `+l.t.d.Now+l.t.d.ShareLock,
		[]any{name, holder, epoch}, &one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqldb: check lease %s: %w", name, err)
	}
	return true, nil
}

func (l leases) Get(name string) (openami.Lease, error) {
	var (
		le      = openami.Lease{Name: name}
		expires int64
	)
	err := l.t.get(`SELECT holder, epoch, expires FROM leases WHERE name = ?`, []any{name}, &le.Holder, &le.Epoch, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return openami.Lease{}, openami.Errorf(openami.NotFound, "", "The lease '%s' does not exist", name)
	}
	if err != nil {
		return openami.Lease{}, fmt.Errorf("sqldb: get lease %s: %w", name, err)
	}
	le.Expires = time.UnixMicro(expires).UTC()
	return le, nil
}

func (l leases) List(prefix string) ([]openami.Lease, error) {
	var out []openami.Lease
	err := l.t.each(`SELECT name, holder, epoch, expires FROM leases WHERE substr(name, 1, ?) = ? ORDER BY name`,
		[]any{utf8.RuneCountInString(prefix), prefix}, func(rows *sql.Rows) error {
			var (
				le      openami.Lease
				expires int64
			)
			if err := rows.Scan(&le.Name, &le.Holder, &le.Epoch, &expires); err != nil {
				return err
			}
			le.Expires = time.UnixMicro(expires).UTC()
			out = append(out, le)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list leases: %w", err)
	}
	return out, nil
}
