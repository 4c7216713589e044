package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

func testSettings(t *testing.T, s metadata.Store) {
	err := s.View(context.Background(), func(tx metadata.Tx) error {
		_, err := tx.Settings().Get("secret")
		return err
	})
	wantClass(t, err, openami.NotFound, "")

	get := func(key string) []byte {
		var v []byte
		view(t, s, func(tx metadata.Tx) error {
			var err error
			v, err = tx.Settings().Get(key)
			return err
		})
		return v
	}
	update(t, s, func(tx metadata.Tx) error { return tx.Settings().Put("a", []byte{0, 1, 0xfe}) })
	equal(t, "Get after Put", get("a"), []byte{0, 1, 0xfe})
	update(t, s, func(tx metadata.Tx) error { return tx.Settings().Put("a", []byte("second")) })
	equal(t, "Get after second Put", get("a"), []byte("second"))
	update(t, s, func(tx metadata.Tx) error { return tx.Settings().Put("empty", nil) })
	if v := get("empty"); len(v) != 0 {
		t.Errorf("Get of an empty value: %q", v)
	}

	var v1, v2 []byte
	update(t, s, func(tx metadata.Tx) error {
		var err error
		v1, err = tx.Settings().PutIfAbsent("b", []byte("first"))
		return err
	})
	update(t, s, func(tx metadata.Tx) error {
		var err error
		v2, err = tx.Settings().PutIfAbsent("b", []byte("later"))
		return err
	})
	equal(t, "PutIfAbsent of an absent setting", v1, []byte("first"))
	equal(t, "PutIfAbsent of a set setting", v2, []byte("first"))
	equal(t, "Get after PutIfAbsent", get("b"), []byte("first"))

	update(t, s, func(tx metadata.Tx) error { return tx.Settings().Delete("b") })
	update(t, s, func(tx metadata.Tx) error { return tx.Settings().Delete("never-set") })
	s.View(context.Background(), func(tx metadata.Tx) error {
		if _, err := tx.Settings().Get("b"); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("Get after Delete: %v, want NotFound", err)
		}
		return nil
	})
}
