package instances

import (
	"context"
	"sync"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// TestConcurrentLaunchesSQLite: 16 launches at once on SQLite (one
// writer) all succeed, each with addresses of its own.
func TestConcurrentLaunchesSQLite(t *testing.T) {
	f := newFixture(t)
	img := f.image(t, "img")
	if _, err := f.runN(f.machines, img, 1, 1); err != nil { // the default VPC
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.runN(f.machines, img, 1, 1)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	var list []openami.Instance
	err := f.store.View(context.Background(), func(tx metadata.Tx) (err error) {
		list, err = tx.Instances().List("us-east-1", metadata.InstanceQuery{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 17 {
		t.Fatalf("%d instances, want 17", len(list))
	}
	public, private := map[string]bool{}, map[string]bool{}
	for _, i := range list {
		if i.PublicIP == "" || public[i.PublicIP] || private[i.PrivateIP] {
			t.Errorf("%s: an address missing or taken twice (%q, %q)", i.ID, i.PublicIP, i.PrivateIP)
		}
		public[i.PublicIP], private[i.PrivateIP] = true, true
	}
}
