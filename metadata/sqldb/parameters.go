package sqldb

import (
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/openami/openami"
)

// Parameters keeps each version of an SSM parameter in one row of
// parameters: the key columns, and the whole openami.Parameter as JSON.

type parameters struct{ t *tx }

func parameterNotFound(name string) error {
	return openami.Errorf(openami.NotFound, openami.ResourceParameter, "Parameter %s not found.", name)
}

func (ps parameters) Put(p openami.Parameter) error {
	p.ModifiedAt = utcTime(p.ModifiedAt)
	doc, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("sqldb: encode parameter %s: %w", p.Name, err)
	}
	n, err := ps.t.execN(`INSERT INTO parameters (region, account_id, name, version, doc) VALUES (?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING`, p.Region, p.AccountID, p.Name, p.Version, string(doc))
	if err != nil {
		return fmt.Errorf("sqldb: put parameter: %w", err)
	}
	if n == 0 {
		return openami.Errorf(openami.Duplicate, openami.ResourceParameter, "The parameter already exists.")
	}
	return nil
}

func (ps parameters) Update(p openami.Parameter) error {
	p.ModifiedAt = utcTime(p.ModifiedAt)
	doc, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("sqldb: encode parameter %s: %w", p.Name, err)
	}
	n, err := ps.t.execN(`UPDATE parameters SET doc = ? WHERE region = ? AND account_id = ? AND name = ? AND version = ?`,
		string(doc), p.Region, p.AccountID, p.Name, p.Version)
	if err != nil {
		return fmt.Errorf("sqldb: update parameter: %w", err)
	}
	if n == 0 {
		return parameterNotFound(p.Name)
	}
	return nil
}

// scan returns the docs a query returns.
func (ps parameters) scan(query string, args ...any) ([]openami.Parameter, error) {
	var list []openami.Parameter
	err := ps.t.each(query, args, func(r *sql.Rows) error {
		var doc string
		if err := r.Scan(&doc); err != nil {
			return err
		}
		var p openami.Parameter
		if err := json.Unmarshal([]byte(doc), &p); err != nil {
			return err
		}
		list = append(list, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: read parameters: %w", err)
	}
	return list, nil
}

func (ps parameters) Get(region, accountID, name string, version int64) (openami.Parameter, error) {
	var (
		list []openami.Parameter
		err  error
	)
	if version == 0 {
		list, err = ps.scan(`SELECT doc FROM parameters WHERE region = ? AND account_id = ? AND name = ?
ORDER BY version DESC LIMIT 1`, region, accountID, name)
	} else {
		list, err = ps.scan(`SELECT doc FROM parameters WHERE region = ? AND account_id = ? AND name = ? AND version = ?`,
			region, accountID, name, version)
	}
	if err != nil {
		return openami.Parameter{}, err
	}
	if len(list) == 0 {
		return openami.Parameter{}, parameterNotFound(name)
	}
	return list[0], nil
}

func (ps parameters) History(region, accountID, name string) ([]openami.Parameter, error) {
	return ps.scan(`SELECT doc FROM parameters WHERE region = ? AND account_id = ? AND name = ? ORDER BY version`,
		region, accountID, name)
}

func (ps parameters) List(region, accountID, prefix, after string, limit int) ([]openami.Parameter, error) {
	// The key's order is byte order on every back end ({{text}}), so the
	// name range, the cursor and the order all walk the primary key.
	q := `SELECT p.doc FROM parameters p WHERE p.region = ? AND p.account_id = ?
AND p.version = (SELECT MAX(q.version) FROM parameters q WHERE q.region = p.region AND q.account_id = p.account_id AND q.name = p.name)`
	args := []any{region, accountID}
	if prefix != "" {
		// Names are ASCII: the names with the prefix are those from it up
		// to the prefix with its last byte raised.
		q += ` AND p.name >= ? AND p.name < ?`
		args = append(args, prefix, prefix[:len(prefix)-1]+string(prefix[len(prefix)-1]+1))
	}
	if after != "" {
		q += ` AND p.name > ?`
		args = append(args, after)
	}
	q += ` ORDER BY p.name`
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	return ps.scan(q, args...)
}

func (ps parameters) Delete(region, accountID, name string) error {
	n, err := ps.t.execN(`DELETE FROM parameters WHERE region = ? AND account_id = ? AND name = ?`, region, accountID, name)
	if err != nil {
		return fmt.Errorf("sqldb: delete parameter: %w", err)
	}
	if n == 0 {
		return parameterNotFound(name)
	}
	return nil
}

func (ps parameters) DeleteVersion(region, accountID, name string, version int64) error {
	n, err := ps.t.execN(`DELETE FROM parameters WHERE region = ? AND account_id = ? AND name = ? AND version = ?`, region, accountID, name, version)
	if err != nil {
		return fmt.Errorf("sqldb: delete parameter version: %w", err)
	}
	if n == 0 {
		return parameterNotFound(name)
	}
	return nil
}
