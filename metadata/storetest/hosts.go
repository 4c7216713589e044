package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// testHosts: a host is put, read back whole, replaced, listed in id
// order, and deleted once.
func testHosts(t *testing.T, s metadata.Store) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	a := openami.Host{ID: "h-0b", Node: "node-b", Address: "10.0.0.2:8080", VCPUs: 8, MemoryMiB: 16384, InstanceStoreGiB: 100,
		Accelerator: "kvm", Runtime: "qemu", Zones: []string{"r1a"}, State: openami.HostActive, Epoch: 1, Expires: at, Registered: at}
	b := a
	b.ID, b.Node, b.Zones = "h-0a", "node-a", nil
	update(t, s, func(tx metadata.Tx) error {
		if err := tx.Hosts().Put(a); err != nil {
			return err
		}
		return tx.Hosts().Put(b)
	})
	a.State, a.Epoch, a.Lost, a.Expires = openami.HostDraining, 2, true, at.Add(time.Minute)
	update(t, s, func(tx metadata.Tx) error { return tx.Hosts().Put(a) })
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Hosts().Get(a.ID)
		if err != nil || !reflect.DeepEqual(got, a) {
			t.Errorf("Get = %+v, %v; want %+v", got, err, a)
		}
		list, err := tx.Hosts().List()
		if err != nil || len(list) != 2 || list[0].ID != b.ID || list[1].ID != a.ID {
			t.Errorf("List = %+v, %v", list, err)
		}
		return nil
	})
	update(t, s, func(tx metadata.Tx) error { return tx.Hosts().Delete(a.ID) })
	err := updateErr(t, s, func(tx metadata.Tx) error { return tx.Hosts().Delete(a.ID) })
	if !errors.Is(err, openami.ErrNotFound) {
		t.Errorf("Delete twice: %v", err)
	}
	view(t, s, func(tx metadata.Tx) error {
		if _, err := tx.Hosts().Get(a.ID); !errors.Is(err, openami.ErrNotFound) {
			t.Errorf("Get after Delete: %v", err)
		}
		return nil
	})
}
