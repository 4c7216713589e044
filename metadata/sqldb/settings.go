package sqldb

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/openami/openami"
)

type settings struct{ t *tx }

func (s settings) Get(key string) ([]byte, error) {
	var v []byte
	err := s.t.get(`SELECT value FROM settings WHERE key = ?`, []any{key}, &v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, openami.Errorf(openami.NotFound, "", "The setting '%s' is not set", key)
	}
	if err != nil {
		return nil, fmt.Errorf("sqldb: get setting: %w", err)
	}
	return nonNil(v), nil
}

func (s settings) Put(key string, value []byte) error {
	if _, err := s.t.exec(`INSERT INTO settings (key, value) VALUES (?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, nonNil(value)); err != nil {
		return fmt.Errorf("sqldb: put setting: %w", err)
	}
	return nil
}

func (s settings) Delete(key string) error {
	if _, err := s.t.exec(`DELETE FROM settings WHERE key = ?`, key); err != nil {
		return fmt.Errorf("sqldb: delete setting: %w", err)
	}
	return nil
}

func (s settings) PutIfAbsent(key string, value []byte) ([]byte, error) {
	n, err := s.t.execN(`INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, nonNil(value))
	if err != nil {
		return nil, fmt.Errorf("sqldb: put setting if absent: %w", err)
	}
	if n > 0 {
		return nonNil(value), nil
	}
	v, err := s.Get(key)
	if err != nil {
		return nil, fmt.Errorf("sqldb: put setting if absent: %w", err)
	}
	return v, nil
}
