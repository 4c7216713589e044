package sqldb

import (
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/openami/openami"
)

// hosts keeps each compute host in one row of hosts: its id and the whole
// openami.Host as JSON.
type hosts struct{ t *tx }

func hostNotFound(id string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceHost, "The host ID '%s' does not exist", id)
}

func (hs hosts) Put(h openami.Host) error {
	h.Expires, h.Registered = utcTime(h.Expires), utcTime(h.Registered)
	doc, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("sqldb: encode host %s: %w", h.ID, err)
	}
	n, err := hs.t.execN(`UPDATE hosts SET doc = ? WHERE id = ?`, string(doc), h.ID)
	if err != nil {
		return fmt.Errorf("sqldb: update host: %w", err)
	}
	if n == 0 {
		if _, err := hs.t.execN(`INSERT INTO hosts (id, doc) VALUES (?, ?)`, h.ID, string(doc)); err != nil {
			return fmt.Errorf("sqldb: create host: %w", err)
		}
	}
	return nil
}

func (hs hosts) scan(query string, args ...any) ([]openami.Host, error) {
	var list []openami.Host
	err := hs.t.each(query, args, func(r *sql.Rows) error {
		var doc string
		if err := r.Scan(&doc); err != nil {
			return err
		}
		var h openami.Host
		if err := json.Unmarshal([]byte(doc), &h); err != nil {
			return err
		}
		list = append(list, h)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: read hosts: %w", err)
	}
	return list, nil
}

func (hs hosts) Get(id string) (openami.Host, error) {
	list, err := hs.scan(`SELECT doc FROM hosts WHERE id = ?`, id)
	if err != nil {
		return openami.Host{}, err
	}
	if len(list) == 0 {
		return openami.Host{}, hostNotFound(id)
	}
	return list[0], nil
}

func (hs hosts) List() ([]openami.Host, error) {
	return hs.scan(`SELECT doc FROM hosts ORDER BY id`)
}

func (hs hosts) Delete(id string) error {
	n, err := hs.t.execN(`DELETE FROM hosts WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqldb: delete host: %w", err)
	}
	if n == 0 {
		return hostNotFound(id)
	}
	return nil
}
