package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

func tagsOf(t *testing.T, s metadata.Store, region, acct string, ids ...string) map[string][]openami.Tag {
	t.Helper()
	var m map[string][]openami.Tag
	view(t, s, func(tx metadata.Tx) error {
		var err error
		m, err = tx.Tags().Of(region, acct, ids)
		return err
	})
	return m
}

func testTagsSetOf(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error {
		if err := tx.Tags().Set(region1, acct1, "ami-1", openami.ResourceImage, []openami.Tag{
			{Key: "b", Value: "1"}, {Key: "a", Value: "2"}, {Key: "B", Value: "3"},
		}); err != nil {
			return err
		}
		// Overwrite one, add one; the last of a repeated key wins.
		if err := tx.Tags().Set(region1, acct1, "ami-1", openami.ResourceImage, []openami.Tag{
			{Key: "a", Value: "x"}, {Key: "c", Value: ""}, {Key: "a", Value: "new"},
		}); err != nil {
			return err
		}
		return tx.Tags().Set(region1, acct1, "snap-1", openami.ResourceSnapshot, []openami.Tag{{Key: "k", Value: "v"}})
	})
	got := tagsOf(t, s, region1, acct1, "ami-1", "snap-1", "vol-untagged")
	equal(t, "Of", got, map[string][]openami.Tag{
		"ami-1":  {{Key: "B", Value: "3"}, {Key: "a", Value: "new"}, {Key: "b", Value: "1"}, {Key: "c", Value: ""}},
		"snap-1": {{Key: "k", Value: "v"}},
	})
	if m := tagsOf(t, s, region1, acct1); len(m) != 0 {
		t.Errorf("Of no resources: %v", m)
	}
	update(t, s, func(tx metadata.Tx) error { return tx.Tags().Set(region1, acct1, "ami-2", openami.ResourceImage, nil) })
	if m := tagsOf(t, s, region1, acct1, "ami-2"); len(m) != 0 {
		t.Errorf("Set of no tags made %v", m)
	}
}

func testTagsDelete(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error {
		for _, id := range []string{"ami-1", "ami-2"} {
			if err := tx.Tags().Set(region1, acct1, id, openami.ResourceImage, []openami.Tag{
				{Key: "a", Value: "1"}, {Key: "b", Value: "2"}, {Key: "c", Value: "3"}, {Key: "d", Value: "4"},
			}); err != nil {
				return err
			}
		}
		return nil
	})
	two, wrong := "2", "wrong"
	update(t, s, func(tx metadata.Tx) error {
		return tx.Tags().Delete(region1, acct1, "ami-1", []metadata.TagKey{
			{Key: "a"},                // by key
			{Key: "b", Value: &two},   // by key and matching value
			{Key: "c", Value: &wrong}, // value does not match: kept
			{Key: "zzz"},              // no such key: ignored
		})
	})
	equal(t, "Of after Delete", tagsOf(t, s, region1, acct1, "ami-1", "ami-2"), map[string][]openami.Tag{
		"ami-1": {{Key: "c", Value: "3"}, {Key: "d", Value: "4"}},
		"ami-2": {{Key: "a", Value: "1"}, {Key: "b", Value: "2"}, {Key: "c", Value: "3"}, {Key: "d", Value: "4"}},
	})
	update(t, s, func(tx metadata.Tx) error { return tx.Tags().DeleteAll(region1, acct1, "ami-1") })
	update(t, s, func(tx metadata.Tx) error { return tx.Tags().DeleteAll(region1, acct1, "ami-none") })
	equal(t, "Of after DeleteAll", tagsOf(t, s, region1, acct1, "ami-1", "ami-2"), map[string][]openami.Tag{
		"ami-2": {{Key: "a", Value: "1"}, {Key: "b", Value: "2"}, {Key: "c", Value: "3"}, {Key: "d", Value: "4"}},
	})
}

func testTagsPartitioned(t *testing.T, s metadata.Store) {
	update(t, s, func(tx metadata.Tx) error {
		for _, r := range []string{region1, region2} {
			for _, a := range []string{acct1, acct2} {
				if err := tx.Tags().Set(r, a, "ami-1", openami.ResourceImage, []openami.Tag{{Key: "where", Value: r + "/" + a}}); err != nil {
					return err
				}
			}
		}
		return tx.Tags().DeleteAll(region2, acct2, "ami-1")
	})
	for _, c := range []struct{ r, a string }{{region1, acct1}, {region1, acct2}, {region2, acct1}} {
		equal(t, "Of "+c.r+"/"+c.a, tagsOf(t, s, c.r, c.a, "ami-1"), map[string][]openami.Tag{
			"ami-1": {{Key: "where", Value: c.r + "/" + c.a}},
		})
	}
	if m := tagsOf(t, s, region2, acct2, "ami-1"); len(m) != 0 {
		t.Errorf("DeleteAll in one region and account left %v", m)
	}
}

// scanFixture tags 10 resources of two types with 3 keys each, in one region
// and account, plus noise elsewhere, and returns the rows in scan order.
func scanFixture(t *testing.T, s metadata.Store) []metadata.TagRow {
	var all []metadata.TagRow
	update(t, s, func(tx metadata.Tx) error {
		for i := range 10 {
			id, typ := fmt.Sprintf("ami-%02d", i), openami.ResourceImage
			if i%2 == 1 {
				id, typ = fmt.Sprintf("snap-%02d", i), openami.ResourceSnapshot
			}
			var ts []openami.Tag
			for _, k := range []string{"k1", "k2", "k3"} {
				ts = append(ts, openami.Tag{Key: k, Value: id + k})
				all = append(all, metadata.TagRow{ResourceID: id, ResourceType: typ, Key: k, Value: id + k})
			}
			if err := tx.Tags().Set(region1, acct1, id, typ, ts); err != nil {
				return err
			}
			if err := tx.Tags().Set(region2, acct1, id, typ, ts); err != nil {
				return err
			}
			if err := tx.Tags().Set(region1, acct2, id, typ, ts); err != nil {
				return err
			}
		}
		return nil
	})
	slices.SortFunc(all, func(a, b metadata.TagRow) int {
		if a.ResourceID != b.ResourceID {
			if a.ResourceID < b.ResourceID {
				return -1
			}
			return 1
		}
		if a.Key < b.Key {
			return -1
		}
		if a.Key > b.Key {
			return 1
		}
		return 0
	})
	return all
}

// scanAll pages through the scan q, limit rows at a time, and returns every
// row and the number of pages.
func scanAll(t *testing.T, s metadata.Store, q metadata.TagScan, limit int) ([]metadata.TagRow, int) {
	t.Helper()
	var rows []metadata.TagRow
	pages := 0
	for {
		q.Limit = limit
		var page []metadata.TagRow
		view(t, s, func(tx metadata.Tx) error {
			var err error
			page, err = tx.Tags().Scan(region1, acct1, q)
			return err
		})
		pages++
		if len(page) > limit && limit > 0 {
			t.Fatalf("Scan with Limit %d returned %d rows", limit, len(page))
		}
		rows = append(rows, page...)
		if limit == 0 || len(page) < limit {
			return rows, pages
		}
		last := page[len(page)-1]
		q.AfterResourceID, q.AfterKey = last.ResourceID, last.Key
		if pages > 1000 {
			t.Fatal("Scan does not advance")
		}
	}
}

func testTagsScanPages(t *testing.T, s metadata.Store) {
	all := scanFixture(t, s)
	got, pages := scanAll(t, s, metadata.TagScan{}, 0)
	equal(t, "Scan without limit", got, all)
	if pages != 1 {
		t.Errorf("Scan without limit took %d pages", pages)
	}
	for _, limit := range []int{1, 4, 7, 30, 31} {
		got, pages := scanAll(t, s, metadata.TagScan{}, limit)
		equal(t, fmt.Sprintf("Scan with Limit %d", limit), got, all)
		if want := len(all)/limit + 1; pages != want {
			t.Errorf("Scan with Limit %d took %d pages, want %d", limit, pages, want)
		}
	}
	// Starting in the middle of a resource's tags, and after a position
	// that is not itself a row.
	view(t, s, func(tx metadata.Tx) error {
		page, err := tx.Tags().Scan(region1, acct1, metadata.TagScan{AfterResourceID: "ami-02", AfterKey: "k2", Limit: 2})
		if err != nil {
			return err
		}
		i := slices.IndexFunc(all, func(r metadata.TagRow) bool { return r.ResourceID == "ami-02" && r.Key == "k2" })
		equal(t, "Scan after ami-02/k2", page, all[i+1:i+3])
		page, err = tx.Tags().Scan(region1, acct1, metadata.TagScan{AfterResourceID: "ami-03", AfterKey: "", Limit: 1})
		if err != nil {
			return err
		}
		i = slices.IndexFunc(all, func(r metadata.TagRow) bool { return r.ResourceID == "ami-04" && r.Key == "k1" })
		equal(t, "Scan after ami-03", page, all[i:i+1])
		page, err = tx.Tags().Scan(region1, acct1, metadata.TagScan{AfterResourceID: "zzz"})
		if err != nil {
			return err
		}
		if len(page) != 0 {
			t.Errorf("Scan after the end: %v", page)
		}
		return nil
	})
}

func filterRows(rows []metadata.TagRow, keep func(metadata.TagRow) bool) []metadata.TagRow {
	var out []metadata.TagRow
	for _, r := range rows {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

func testTagsScanNarrow(t *testing.T, s metadata.Store) {
	all := scanFixture(t, s)
	cases := []struct {
		name string
		q    metadata.TagScan
		keep func(metadata.TagRow) bool
	}{
		{"ResourceIDs", metadata.TagScan{ResourceIDs: []string{"snap-03", "ami-04", "ami-99"}},
			func(r metadata.TagRow) bool { return r.ResourceID == "snap-03" || r.ResourceID == "ami-04" }},
		{"ResourceTypes", metadata.TagScan{ResourceTypes: []openami.ResourceType{openami.ResourceSnapshot}},
			func(r metadata.TagRow) bool { return r.ResourceType == openami.ResourceSnapshot }},
		{"Keys", metadata.TagScan{Keys: []string{"k3", "k1"}},
			func(r metadata.TagRow) bool { return r.Key != "k2" }},
		{"All three", metadata.TagScan{
			ResourceIDs:   []string{"ami-00", "ami-02", "snap-05"},
			ResourceTypes: []openami.ResourceType{openami.ResourceImage, openami.ResourceVolume},
			Keys:          []string{"k2"},
		}, func(r metadata.TagRow) bool {
			return (r.ResourceID == "ami-00" || r.ResourceID == "ami-02") && r.Key == "k2"
		}},
		{"Nothing matches", metadata.TagScan{Keys: []string{"nope"}},
			func(metadata.TagRow) bool { return false }},
	}
	for _, c := range cases {
		want := filterRows(all, c.keep)
		for _, limit := range []int{0, 1, 2, 5} {
			got, _ := scanAll(t, s, c.q, limit)
			equal(t, fmt.Sprintf("%s, Limit %d", c.name, limit), got, want)
		}
	}
}

// testTagsScanLongLists narrows by more values than fit one SQL statement
// comfortably, which an implementation may handle differently.
func testTagsScanLongLists(t *testing.T, s metadata.Store) {
	all := scanFixture(t, s)
	ids := []string{"snap-07", "ami-02"}
	keys := []string{"k2"}
	for i := range 2000 {
		ids = append(ids, fmt.Sprintf("vol-%05d", i))
		keys = append(keys, fmt.Sprintf("x%05d", i))
	}
	want := filterRows(all, func(r metadata.TagRow) bool {
		return (r.ResourceID == "snap-07" || r.ResourceID == "ami-02") && r.Key == "k2"
	})
	for _, limit := range []int{0, 1} {
		got, _ := scanAll(t, s, metadata.TagScan{ResourceIDs: ids, Keys: keys}, limit)
		equal(t, fmt.Sprintf("Scan with long lists, Limit %d", limit), got, want)
	}
	m := tagsOf(t, s, region1, acct1, ids...)
	if len(m) != 2 || len(m["snap-07"]) != 3 || len(m["ami-02"]) != 3 {
		t.Errorf("Of with a long list: %v", m)
	}
}
