package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

func param(region, acct, name string, version int64, value string) openami.Parameter {
	return openami.Parameter{Region: region, AccountID: acct, Name: name, Version: version, Type: openami.ParameterString,
		Value: value, DataType: openami.DataTypeText, Tier: "Standard", Tags: []openami.Tag{{Key: "k", Value: "v"}},
		ModifiedAt: time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC), ModifiedBy: "arn:aws:iam::" + acct + ":root"}
}

// testParameterVersions: versions are kept apart, the latest is the
// highest, a version is written once, and Delete removes every version.
func testParameterVersions(t *testing.T, s metadata.Store) {
	const acct = "111111111111"
	v1, v2 := param("r1", acct, "/a/b", 1, "one"), param("r1", acct, "/a/b", 2, "two")
	update(t, s, func(tx metadata.Tx) error {
		if err := tx.Parameters().Put(v1); err != nil {
			return err
		}
		return tx.Parameters().Put(v2)
	})
	err := updateErr(t, s, func(tx metadata.Tx) error { return tx.Parameters().Put(param("r1", acct, "/a/b", 2, "again")) })
	wantClass(t, err, openami.Duplicate, openami.ResourceParameter)
	view(t, s, func(tx metadata.Tx) error {
		for version, want := range map[int64]openami.Parameter{0: v2, 1: v1, 2: v2} {
			got, err := tx.Parameters().Get("r1", acct, "/a/b", version)
			if err != nil {
				t.Fatalf("Get version %d: %v", version, err)
			}
			if !parameterEqual(got, want) {
				t.Errorf("Get version %d = %+v, want %+v", version, got, want)
			}
		}
		_, err := tx.Parameters().Get("r1", acct, "/a/b", 3)
		wantClass(t, err, openami.NotFound, openami.ResourceParameter)
		for _, other := range [][2]string{{"r2", acct}, {"r1", "222222222222"}, {"r1", ""}} {
			_, err = tx.Parameters().Get(other[0], other[1], "/a/b", 0)
			wantClass(t, err, openami.NotFound, openami.ResourceParameter)
		}
		h, err := tx.Parameters().History("r1", acct, "/a/b")
		if err != nil || len(h) != 2 || h[0].Version != 1 || h[1].Version != 2 {
			t.Errorf("History = %+v, %v; want versions 1, 2", h, err)
		}
		return nil
	})
	// Update rewrites one version, and only one that exists.
	v1.Labels, v1.Tags = []string{"prod"}, nil
	update(t, s, func(tx metadata.Tx) error { return tx.Parameters().Update(v1) })
	err = updateErr(t, s, func(tx metadata.Tx) error { return tx.Parameters().Update(param("r1", acct, "/a/b", 9, "x")) })
	wantClass(t, err, openami.NotFound, openami.ResourceParameter)
	view(t, s, func(tx metadata.Tx) error {
		got, err := tx.Parameters().Get("r1", acct, "/a/b", 1)
		if err != nil || !slices.Equal(got.Labels, []string{"prod"}) || len(got.Tags) != 0 || got.Value != "one" {
			t.Errorf("after Update: %+v, %v", got, err)
		}
		if got, err := tx.Parameters().Get("r1", acct, "/a/b", 0); err != nil || got.Version != 2 || len(got.Labels) != 0 {
			t.Errorf("latest after Update: %+v, %v", got, err)
		}
		return nil
	})
	// DeleteVersion deletes that version only.
	update(t, s, func(tx metadata.Tx) error { return tx.Parameters().DeleteVersion("r1", acct, "/a/b", 1) })
	err = updateErr(t, s, func(tx metadata.Tx) error { return tx.Parameters().DeleteVersion("r1", acct, "/a/b", 1) })
	wantClass(t, err, openami.NotFound, openami.ResourceParameter)
	view(t, s, func(tx metadata.Tx) error {
		if h, err := tx.Parameters().History("r1", acct, "/a/b"); err != nil || len(h) != 1 || h[0].Version != 2 {
			t.Errorf("History after DeleteVersion = %+v, %v; want version 2", h, err)
		}
		return nil
	})
	update(t, s, func(tx metadata.Tx) error { return tx.Parameters().Delete("r1", acct, "/a/b") })
	err = updateErr(t, s, func(tx metadata.Tx) error { return tx.Parameters().Delete("r1", acct, "/a/b") })
	wantClass(t, err, openami.NotFound, openami.ResourceParameter)
	view(t, s, func(tx metadata.Tx) error {
		h, err := tx.Parameters().History("r1", acct, "/a/b")
		if err != nil || len(h) != 0 {
			t.Errorf("History after Delete = %+v, %v; want none", h, err)
		}
		return nil
	})
}

func parameterEqual(a, b openami.Parameter) bool {
	return a.Region == b.Region && a.AccountID == b.AccountID && a.Name == b.Name && a.Version == b.Version &&
		a.Type == b.Type && a.Value == b.Value && a.DataType == b.DataType && a.Tier == b.Tier &&
		slices.Equal(a.Tags, b.Tags) && a.ModifiedAt.Equal(b.ModifiedAt) && a.ModifiedBy == b.ModifiedBy
}

// testParameterList: the latest version of each name under a prefix, in
// byte order of names, of one region and account.
func testParameterList(t *testing.T, s metadata.Store) {
	const acct = "111111111111"
	update(t, s, func(tx metadata.Tx) error {
		for _, p := range []openami.Parameter{
			param("r1", acct, "/a/b", 1, "1"), param("r1", acct, "/a/b", 2, "2"), param("r1", acct, "/a/B", 1, "3"),
			param("r1", acct, "/a/b/c", 1, "4"), param("r1", acct, "/ab", 1, "5"), param("r1", acct, "plain", 1, "6"),
			param("r2", acct, "/a/x", 1, "7"), param("r1", "222222222222", "/a/y", 1, "8"), param("r1", "", "/a/z", 1, "9"),
		} {
			if err := tx.Parameters().Put(p); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx metadata.Tx) error {
		for prefix, want := range map[string][]string{
			"/a/": {"/a/B:3", "/a/b:2", "/a/b/c:4"},
			"":    {"/a/B:3", "/a/b:2", "/a/b/c:4", "/ab:5", "plain:6"},
			"/z":  nil,
		} {
			list, err := tx.Parameters().List("r1", acct, prefix, "", 0)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range list {
				got = append(got, p.Name+":"+p.Value) // values tell versions apart
			}
			if !slices.Equal(got, want) {
				t.Errorf("List(%q) = %q, want %q", prefix, got, want)
			}
		}
		// Pages: after a name, at most limit.
		for _, c := range []struct {
			prefix, after string
			limit         int
			want          []string
		}{
			{"", "/a/b", 2, []string{"/a/b/c", "/ab"}},
			{"/a/", "/a/B", 0, []string{"/a/b", "/a/b/c"}},
			{"/a/", "/a/b/c", 5, nil},
			{"/a/b", "", 0, []string{"/a/b", "/a/b/c"}},
		} {
			list, err := tx.Parameters().List("r1", acct, c.prefix, c.after, c.limit)
			var got []string
			for _, p := range list {
				got = append(got, p.Name)
			}
			if err != nil || !slices.Equal(got, c.want) {
				t.Errorf("List(%q, after %q, %d) = %q, %v; want %q", c.prefix, c.after, c.limit, got, err, c.want)
			}
		}
		return nil
	})
}

// testParameterAccountDelete: deleting an account deletes its
// parameters, not others' or the public ones.
func testParameterAccountDelete(t *testing.T, s metadata.Store) {
	const acct, other = "111111111111", "222222222222"
	createAccounts(t, s, acct, other)
	update(t, s, func(tx metadata.Tx) error {
		for _, p := range []openami.Parameter{param("r1", acct, "/a", 1, "1"), param("r1", other, "/a", 1, "2"), param("r1", "", "/aws/service/a", 1, "3")} {
			if err := tx.Parameters().Put(p); err != nil {
				return err
			}
		}
		return tx.Accounts().Delete(acct)
	})
	view(t, s, func(tx metadata.Tx) error {
		if _, err := tx.Parameters().Get("r1", acct, "/a", 0); err == nil {
			t.Error("the deleted account's parameter is still there")
		}
		for _, a := range []string{other, ""} {
			name := map[string]string{other: "/a", "": "/aws/service/a"}[a]
			if _, err := tx.Parameters().Get("r1", a, name, 0); err != nil {
				t.Errorf("parameter %s of %q: %v", name, a, err)
			}
		}
		return nil
	})
}
