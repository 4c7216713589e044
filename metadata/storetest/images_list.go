package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// imageFixture, region1: acct1 owns a1 "alpha" (private) and a2 "beta"
// (public); acct2 owns b1 (shared with acct1), b2 (public, alias amazon),
// b3 (private), b4 "alpha" (shared with org1), b5 (shared with ou1 and
// acct3; and acct1, then unshared), b6 (public, then private); acct3 owns
// c1 (alias aws-marketplace, shared with acct1) and c2 (public, alias
// amazon). region2: acct1 owns a3 "alpha", public.
//
// Tags, set by the images' owners: a1 env=prod team=web, a2 env=test; b1
// env=prod, b2 env=prod team=web, b4 env=dev, b5 env=prod team=db; c2
// env=prod; in region2, a3 env=prod. acct1 also has env=prod on b3, which
// it does not own (the store does not check), and a tag env=prod on a key
// pair.
func imageFixture(t *testing.T, s metadata.Store) {
	named := func(region, acct, id, name, alias string) openami.Image {
		img := image(region, acct, id, name)
		img.OwnerAlias = alias
		return img
	}
	createImages(t, s,
		named(region1, acct1, "ami-a1", "alpha", ""), named(region1, acct1, "ami-a2", "beta", ""),
		named(region2, acct1, "ami-a3", "alpha", ""),
		named(region1, acct2, "ami-b1", "b1", ""), named(region1, acct2, "ami-b2", "b2", "amazon"),
		named(region1, acct2, "ami-b3", "b3", ""), named(region1, acct2, "ami-b4", "alpha", ""),
		named(region1, acct2, "ami-b5", "b5", ""), named(region1, acct2, "ami-b6", "b6", ""),
		named(region1, acct3, "ami-c1", "c1", "aws-marketplace"), named(region1, acct3, "ami-c2", "c2", "amazon"))
	update(t, s, func(tx metadata.Tx) error {
		im := tx.Images()
		for _, p := range []struct {
			id string
			p  openami.LaunchPermission
		}{
			{"ami-a2", openami.LaunchPermission{Group: "all"}},
			{"ami-a3", openami.LaunchPermission{Group: "all"}},
			{"ami-b1", openami.LaunchPermission{AccountID: acct1}},
			{"ami-b2", openami.LaunchPermission{Group: "all"}},
			{"ami-b4", openami.LaunchPermission{OrganizationArn: org1}},
			{"ami-b5", openami.LaunchPermission{OrganizationalUnitArn: ou1}},
			{"ami-b5", openami.LaunchPermission{AccountID: acct3}},
			{"ami-b5", openami.LaunchPermission{AccountID: acct1}},
			{"ami-b6", openami.LaunchPermission{Group: "all"}},
			{"ami-c1", openami.LaunchPermission{AccountID: acct1}},
			{"ami-c2", openami.LaunchPermission{Group: "all"}},
		} {
			if err := im.AddPermissions(p.id, []openami.LaunchPermission{p.p}); err != nil {
				return err
			}
		}
		if err := im.RemovePermissions("ami-b6", []openami.LaunchPermission{{Group: "all"}}); err != nil {
			return err
		}
		if err := im.RemovePermissions("ami-b5", []openami.LaunchPermission{{AccountID: acct1}}); err != nil {
			return err
		}
		for _, tg := range []struct {
			region, acct, id string
			tags             []openami.Tag
		}{
			{region1, acct1, "ami-a1", []openami.Tag{{Key: "env", Value: "prod"}, {Key: "team", Value: "web"}}},
			{region1, acct1, "ami-a2", []openami.Tag{{Key: "env", Value: "test"}}},
			{region1, acct2, "ami-b1", []openami.Tag{{Key: "env", Value: "prod"}}},
			{region1, acct2, "ami-b2", []openami.Tag{{Key: "env", Value: "prod"}, {Key: "team", Value: "web"}}},
			{region1, acct2, "ami-b4", []openami.Tag{{Key: "env", Value: "dev"}}},
			{region1, acct2, "ami-b5", []openami.Tag{{Key: "env", Value: "prod"}, {Key: "team", Value: "db"}}},
			{region1, acct3, "ami-c2", []openami.Tag{{Key: "env", Value: "prod"}}},
			{region2, acct1, "ami-a3", []openami.Tag{{Key: "env", Value: "prod"}}},
			{region1, acct1, "ami-b3", []openami.Tag{{Key: "env", Value: "prod"}}},
		} {
			if err := tx.Tags().Set(tg.region, tg.acct, tg.id, openami.ResourceImage, tg.tags); err != nil {
				return err
			}
		}
		return tx.Tags().Set(region1, acct1, "key-1", openami.ResourceKeyPair, []openami.Tag{{Key: "env", Value: "prod"}})
	})
}

func testImageListSelections(t *testing.T, s metadata.Store) {
	imageFixture(t, s)
	const stranger = "999999999999"
	for _, c := range []struct {
		name string
		q    metadata.ImageQuery
		want []string
	}{
		{"everything", metadata.ImageQuery{},
			[]string{"ami-a1", "ami-a2", "ami-b1", "ami-b2", "ami-b3", "ami-b4", "ami-b5", "ami-b6", "ami-c1", "ami-c2"}},

		{"VisibleTo acct1", metadata.ImageQuery{VisibleTo: acct1},
			[]string{"ami-a1", "ami-a2", "ami-b1", "ami-b2", "ami-c1", "ami-c2"}},
		{"VisibleTo acct1, VisibleOrgs org1", metadata.ImageQuery{VisibleTo: acct1, VisibleOrgs: []string{org1}},
			[]string{"ami-a1", "ami-a2", "ami-b1", "ami-b2", "ami-b4", "ami-c1", "ami-c2"}},
		{"VisibleTo acct1, VisibleOrgs ou1 and another", metadata.ImageQuery{VisibleTo: acct1, VisibleOrgs: []string{"arn:other", ou1}},
			[]string{"ami-a1", "ami-a2", "ami-b1", "ami-b2", "ami-b5", "ami-c1", "ami-c2"}},
		{"VisibleTo acct2", metadata.ImageQuery{VisibleTo: acct2},
			[]string{"ami-a2", "ami-b1", "ami-b2", "ami-b3", "ami-b4", "ami-b5", "ami-b6", "ami-c2"}},
		{"VisibleTo acct3", metadata.ImageQuery{VisibleTo: acct3}, []string{"ami-a2", "ami-b2", "ami-b5", "ami-c1", "ami-c2"}},
		{"VisibleTo a stranger", metadata.ImageQuery{VisibleTo: stranger}, []string{"ami-a2", "ami-b2", "ami-c2"}},
		{"VisibleOrgs alone", metadata.ImageQuery{VisibleOrgs: []string{org1}}, []string{"ami-a2", "ami-b2", "ami-b4", "ami-c2"}},

		{"OwnerIDs acct2", metadata.ImageQuery{OwnerIDs: []string{acct2}},
			[]string{"ami-b1", "ami-b2", "ami-b3", "ami-b4", "ami-b5", "ami-b6"}},
		{"OwnerIDs acct3 acct1", metadata.ImageQuery{OwnerIDs: []string{acct3, acct1, acct3}},
			[]string{"ami-a1", "ami-a2", "ami-c1", "ami-c2"}},
		{"OwnerAliases amazon", metadata.ImageQuery{OwnerAliases: []string{"amazon"}}, []string{"ami-b2", "ami-c2"}},
		{"OwnerAliases two", metadata.ImageQuery{OwnerAliases: []string{"aws-marketplace", "amazon"}},
			[]string{"ami-b2", "ami-c1", "ami-c2"}},
		{"States none", metadata.ImageQuery{States: []openami.ImageState{openami.ImageFailed}}, []string{}},
		{"States available", metadata.ImageQuery{States: []openami.ImageState{openami.ImageAvailable}, OwnerIDs: []string{acct3}},
			[]string{"ami-c1", "ami-c2"}},
		{"OwnerIDs or OwnerAliases", metadata.ImageQuery{OwnerIDs: []string{acct3}, OwnerAliases: []string{"amazon"}},
			[]string{"ami-b2", "ami-c1", "ami-c2"}},

		{"ExecutableBy acct1", metadata.ImageQuery{ExecutableBy: []string{acct1}}, []string{"ami-b1", "ami-c1"}},
		{"ExecutableBy all", metadata.ImageQuery{ExecutableBy: []string{"all"}}, []string{"ami-a2", "ami-b2", "ami-c2"}},
		{"ExecutableBy acct1 all", metadata.ImageQuery{ExecutableBy: []string{"all", acct1}},
			[]string{"ami-a2", "ami-b1", "ami-b2", "ami-c1", "ami-c2"}},
		{"ExecutableBy an owner", metadata.ImageQuery{ExecutableBy: []string{acct2}}, []string{}},
		{"ExecutableBy acct3", metadata.ImageQuery{ExecutableBy: []string{acct3}}, []string{"ami-b5"}},
		{"ExecutableBy acct3, ExecutableOrgs org1", metadata.ImageQuery{ExecutableBy: []string{acct3}, ExecutableOrgs: []string{org1}},
			[]string{"ami-b4", "ami-b5"}},
		{"ExecutableOrgs alone", metadata.ImageQuery{ExecutableOrgs: []string{ou1, org1}}, []string{"ami-b4", "ami-b5"}},
		{"ExecutableBy acct1 acct3", metadata.ImageQuery{ExecutableBy: []string{acct3, acct1}},
			[]string{"ami-b1", "ami-b5", "ami-c1"}},

		{"IDs", metadata.ImageQuery{IDs: []string{"ami-b3", "ami-a1", "ami-none", "ami-a3", "ami-b3"}}, []string{"ami-a1", "ami-b3"}},
		{"Names alpha", metadata.ImageQuery{Names: []string{"alpha"}}, []string{"ami-a1", "ami-b4"}},
		{"Names three", metadata.ImageQuery{Names: []string{"c2", "alpha", "none", "ALPHA"}}, []string{"ami-a1", "ami-b4", "ami-c2"}},

		{"VisibleTo acct1, Names alpha", metadata.ImageQuery{VisibleTo: acct1, Names: []string{"alpha"}}, []string{"ami-a1"}},
		{"VisibleTo acct1, OwnerIDs acct2", metadata.ImageQuery{VisibleTo: acct1, OwnerIDs: []string{acct2}},
			[]string{"ami-b1", "ami-b2"}},
		{"VisibleTo acct1, ExecutableBy all", metadata.ImageQuery{VisibleTo: acct1, ExecutableBy: []string{"all"}},
			[]string{"ami-a2", "ami-b2", "ami-c2"}},
		{"VisibleTo acct1, ExecutableBy acct1", metadata.ImageQuery{VisibleTo: acct1, ExecutableBy: []string{acct1}},
			[]string{"ami-b1", "ami-c1"}},
		{"VisibleTo acct3, ExecutableOrgs ou1", metadata.ImageQuery{VisibleTo: acct3, ExecutableOrgs: []string{ou1}},
			[]string{"ami-b5"}},
		{"VisibleTo stranger, ExecutableOrgs org1", metadata.ImageQuery{VisibleTo: stranger, ExecutableOrgs: []string{org1}},
			[]string{}},
		{"OwnerAliases amazon, ExecutableBy all, IDs", metadata.ImageQuery{
			OwnerAliases: []string{"amazon"}, ExecutableBy: []string{"all"}, IDs: []string{"ami-c2", "ami-a2", "ami-b2"}},
			[]string{"ami-b2", "ami-c2"}},
		{"every field", metadata.ImageQuery{
			VisibleTo: acct1, VisibleOrgs: []string{org1},
			OwnerIDs: []string{acct2, acct3}, OwnerAliases: []string{"", "amazon"},
			ExecutableBy: []string{acct1, "all"}, ExecutableOrgs: []string{org1},
			IDs:   []string{"ami-b1", "ami-b2", "ami-b4", "ami-c1", "ami-c2", "ami-a2"},
			Names: []string{"b1", "alpha", "c2", "c1", "beta"},
			After: "ami-b1", Limit: 2,
		}, []string{"ami-b4", "ami-c1"}},

		{"After", metadata.ImageQuery{VisibleTo: acct1, After: "ami-b1"}, []string{"ami-b2", "ami-c1", "ami-c2"}},
		{"After, not an id", metadata.ImageQuery{After: "ami-b"},
			[]string{"ami-b1", "ami-b2", "ami-b3", "ami-b4", "ami-b5", "ami-b6", "ami-c1", "ami-c2"}},
		{"After the last", metadata.ImageQuery{After: "ami-c2"}, []string{}},
		{"Limit", metadata.ImageQuery{Limit: 3}, []string{"ami-a1", "ami-a2", "ami-b1"}},
		{"After, Limit", metadata.ImageQuery{After: "ami-a1", Limit: 2}, []string{"ami-a2", "ami-b1"}},
		{"IDs, After, Limit", metadata.ImageQuery{IDs: []string{"ami-c1", "ami-b4", "ami-a1", "ami-b2"}, After: "ami-a2", Limit: 2},
			[]string{"ami-b2", "ami-b4"}},
		{"nothing", metadata.ImageQuery{OwnerIDs: []string{stranger}}, []string{}},
	} {
		equal(t, c.name, imageIDs(listImages(t, s, region1, c.q)), c.want)
	}
	// Another region has its own images; full records come back.
	got := listImages(t, s, region2, metadata.ImageQuery{VisibleTo: acct2})
	want := utcImage(image(region2, acct1, "ami-a3", "alpha"))
	want.Public = true
	equal(t, "region2", got, []openami.Image{want})
	equal(t, "region2 by name", imageIDs(listImages(t, s, region2, metadata.ImageQuery{Names: []string{"alpha"}})), []string{"ami-a3"})
	if got := listImages(t, s, "ap-south-1", metadata.ImageQuery{}); len(got) != 0 {
		t.Errorf("List of an empty region: %v", got)
	}
}

// pageImages pages through q, limit at a time, and returns the ids.
func pageImages(t *testing.T, s metadata.Store, q metadata.ImageQuery, limit int) []string {
	t.Helper()
	return pageIDs(t, limit, q.After, func(after string) []string {
		q.After, q.Limit = after, limit
		return imageIDs(listImages(t, s, region1, q))
	})
}

func testImageListPages(t *testing.T, s metadata.Store) {
	var imgs []openami.Image
	for i := range 30 {
		img := image(region1, []string{acct1, acct2, acct3}[i%3], fmt.Sprintf("ami-%03d", i), fmt.Sprintf("n%02d", i))
		if i%7 == 0 {
			img.OwnerAlias = "amazon"
		}
		imgs = append(imgs, img)
	}
	createImages(t, s, imgs...)
	update(t, s, func(tx metadata.Tx) error {
		for i := range 30 {
			// The owner's tag k=v0…v3 on every image but every fifth.
			if i%5 != 4 {
				if err := tx.Tags().Set(region1, []string{acct1, acct2, acct3}[i%3], fmt.Sprintf("ami-%03d", i),
					openami.ResourceImage, []openami.Tag{{Key: "k", Value: fmt.Sprintf("v%d", i%4)}}); err != nil {
					return err
				}
			}
			var p openami.LaunchPermission
			switch i % 5 {
			case 1:
				p.AccountID = acct1
			case 2:
				p.Group = "all"
			case 3:
				p.OrganizationArn = org1
			default:
				continue
			}
			if err := tx.Images().AddPermissions(fmt.Sprintf("ami-%03d", i), []openami.LaunchPermission{p}); err != nil {
				return err
			}
		}
		return nil
	})
	for _, q := range []metadata.ImageQuery{
		{},
		{VisibleTo: acct1},
		{VisibleTo: acct2, VisibleOrgs: []string{org1}},
		{OwnerIDs: []string{acct2, acct3}},
		{OwnerAliases: []string{"amazon"}},
		{ExecutableBy: []string{acct1, "all"}},
		{ExecutableOrgs: []string{org1}},
		{Names: []string{"n01", "n02", "n05", "n13", "n17", "n20", "n29", "n30"}},
		{VisibleTo: acct1, IDs: []string{"ami-001", "ami-002", "ami-004", "ami-010", "ami-011", "ami-027"}},
		{NamePrefixes: []string{"n0", "n2"}},
		{VisibleTo: acct1, NamePrefixes: []string{"n1", "n2"}},
		{TagOwner: acct2, Tags: []metadata.TagMatch{{Key: "k"}}},
		{VisibleTo: acct1, TagOwner: acct2, Tags: []metadata.TagMatch{{Key: "k", Values: []string{"v0", "v1", "v2"}}}},
		{VisibleTo: acct1, VisibleOrgs: []string{org1}, TagOwner: acct3, Tags: []metadata.TagMatch{{Key: "k", Values: []string{"v1", "v2"}}},
			NamePrefixes: []string{"n1", "n2"}},
		{ExecutableBy: []string{acct1, "all"}, OwnerIDs: []string{acct2, acct3}},
	} {
		all := imageIDs(listImages(t, s, region1, q))
		if len(all) == 0 {
			t.Fatalf("%+v selects nothing", q)
		}
		for _, limit := range []int{1, 2, 7, 30, 31} {
			equal(t, fmt.Sprintf("%+v paged by %d", q, limit), pageImages(t, s, q, limit), all)
		}
	}
}

// testImageListLongLists selects by more values than fit one SQL statement
// comfortably, which an implementation may handle differently.
func testImageListLongLists(t *testing.T, s metadata.Store) {
	imageFixture(t, s)
	long := func(prefix string, real ...string) []string {
		out := slices.Clone(real)
		for i := range 1100 {
			out = append(out, fmt.Sprintf("%s%04d", prefix, i))
		}
		return out
	}
	ids := long("ami-x", "ami-b3", "ami-a2", "ami-b5", "ami-c1")
	for _, c := range []struct {
		name string
		q    metadata.ImageQuery
		want []string
	}{
		{"IDs", metadata.ImageQuery{IDs: ids}, []string{"ami-a2", "ami-b3", "ami-b5", "ami-c1"}},
		{"OwnerIDs", metadata.ImageQuery{OwnerIDs: long("9", acct3)}, []string{"ami-c1", "ami-c2"}},
		{"OwnerAliases", metadata.ImageQuery{OwnerAliases: long("alias", "amazon")}, []string{"ami-b2", "ami-c2"}},
		{"Names", metadata.ImageQuery{Names: long("name", "alpha")}, []string{"ami-a1", "ami-b4"}},
		{"VisibleOrgs", metadata.ImageQuery{VisibleTo: acct3, VisibleOrgs: long("arn:", org1)},
			[]string{"ami-a2", "ami-b2", "ami-b4", "ami-b5", "ami-c1", "ami-c2"}},
		{"ExecutableBy", metadata.ImageQuery{ExecutableBy: long("8", acct3, "all")}, []string{"ami-a2", "ami-b2", "ami-b5", "ami-c2"}},
		{"ExecutableOrgs", metadata.ImageQuery{ExecutableBy: []string{acct1}, ExecutableOrgs: long("arn:", ou1)},
			[]string{"ami-b1", "ami-b5", "ami-c1"}},
		{"several", metadata.ImageQuery{IDs: ids, OwnerIDs: long("9", acct2, acct3), ExecutableBy: long("8", acct3, acct1)},
			[]string{"ami-b5", "ami-c1"}},
		{"NamePrefixes", metadata.ImageQuery{NamePrefixes: long("zz", "b")},
			[]string{"ami-a2", "ami-b1", "ami-b2", "ami-b3", "ami-b5", "ami-b6"}},
		{"NamePrefixes, VisibleTo", metadata.ImageQuery{VisibleTo: acct1, NamePrefixes: long("zz", "c", "b")},
			[]string{"ami-a2", "ami-b1", "ami-b2", "ami-c1", "ami-c2"}},
		{"Tags values", metadata.ImageQuery{TagOwner: acct2, Tags: []metadata.TagMatch{{Key: "env", Values: long("v", "dev", "prod")}}},
			[]string{"ami-b1", "ami-b2", "ami-b4", "ami-b5"}},
		{"Tags values, two entries", metadata.ImageQuery{VisibleTo: acct3, TagOwner: acct2, Tags: []metadata.TagMatch{
			{Key: "env", Values: long("v", "prod")}, {Key: "team", Values: long("t", "web", "db")}}},
			[]string{"ami-b2", "ami-b5"}},
	} {
		equal(t, c.name, imageIDs(listImages(t, s, region1, c.q)), c.want)
		for _, limit := range []int{1, 3} {
			equal(t, fmt.Sprintf("%s paged by %d", c.name, limit), pageImages(t, s, c.q, limit), c.want)
		}
	}
}

// testImageListNamePrefixes selects by name prefixes: bytewise, with no
// wildcards, alone and with other fields.
func testImageListNamePrefixes(t *testing.T, s metadata.Store) {
	imageFixture(t, s)
	createImages(t, s,
		image(region1, acct3, "ami-d1", "50%_off"),
		image(region1, acct3, "ami-d2", "50x_off"),
		image(region1, acct3, "ami-d3", "50%Xoff"),
		image(region1, acct3, "ami-d4", "é-café"),
		image(region1, acct3, "ami-d5", "éa"),
		image(region1, acct3, "ami-d6", "e-plain"),
		image(region1, acct3, "ami-d7", "\x7f-del"),
		image(region1, acct3, "ami-d8", "\u0080x"),
		image(region1, acct3, "ami-d9", "5_0"),
		image(region1, acct3, "ami-e1", "\ud7ffq"),
		image(region1, acct3, "ami-e2", "\ue000x"),
		image(region1, acct3, "ami-e3", "\U0010ffffz"),
		image(region1, acct3, "ami-e4", "\U0010ffff"),
		image(region1, acct3, "ami-e5", "zeta"),
	)
	everything := []string{"ami-a1", "ami-a2", "ami-b1", "ami-b2", "ami-b3", "ami-b4", "ami-b5", "ami-b6", "ami-c1", "ami-c2",
		"ami-d1", "ami-d2", "ami-d3", "ami-d4", "ami-d5", "ami-d6", "ami-d7", "ami-d8", "ami-d9",
		"ami-e1", "ami-e2", "ami-e3", "ami-e4", "ami-e5"}
	for _, c := range []struct {
		name string
		q    metadata.ImageQuery
		want []string
	}{
		{"one", metadata.ImageQuery{NamePrefixes: []string{"alp"}}, []string{"ami-a1", "ami-b4"}},
		{"whole name", metadata.ImageQuery{NamePrefixes: []string{"alpha"}}, []string{"ami-a1", "ami-b4"}},
		{"longer than the name", metadata.ImageQuery{NamePrefixes: []string{"alphabet"}}, []string{}},
		{"case-sensitive", metadata.ImageQuery{NamePrefixes: []string{"Alp", "ALPHA"}}, []string{}},
		{"several", metadata.ImageQuery{NamePrefixes: []string{"c", "b"}},
			[]string{"ami-a2", "ami-b1", "ami-b2", "ami-b3", "ami-b5", "ami-b6", "ami-c1", "ami-c2"}},
		{"overlapping", metadata.ImageQuery{NamePrefixes: []string{"alpha", "al", "alp", "al", "b1"}},
			[]string{"ami-a1", "ami-b1", "ami-b4"}},
		{"none match", metadata.ImageQuery{NamePrefixes: []string{"zzz", "a-"}}, []string{}},
		{"empty", metadata.ImageQuery{NamePrefixes: []string{""}}, everything},
		{"empty among others", metadata.ImageQuery{NamePrefixes: []string{"zzz", ""}}, everything},
		{"last letter", metadata.ImageQuery{NamePrefixes: []string{"z"}}, []string{"ami-e5"}},

		// LIKE's wildcards are literal.
		{"percent", metadata.ImageQuery{NamePrefixes: []string{"50%"}}, []string{"ami-d1", "ami-d3"}},
		{"percent underscore", metadata.ImageQuery{NamePrefixes: []string{"50%_"}}, []string{"ami-d1"}},
		{"underscore", metadata.ImageQuery{NamePrefixes: []string{"5_"}}, []string{"ami-d9"}},
		{"digit", metadata.ImageQuery{NamePrefixes: []string{"5"}}, []string{"ami-d1", "ami-d2", "ami-d3", "ami-d9"}},
		{"percent alone", metadata.ImageQuery{NamePrefixes: []string{"%"}}, []string{}},

		// Not ASCII: whole characters, compared bytewise.
		{"é", metadata.ImageQuery{NamePrefixes: []string{"é"}}, []string{"ami-d4", "ami-d5"}},
		{"é-", metadata.ImageQuery{NamePrefixes: []string{"é-"}}, []string{"ami-d4"}},
		{"e is not é", metadata.ImageQuery{NamePrefixes: []string{"e"}}, []string{"ami-d6"}},
		{"DEL, before U+0080", metadata.ImageQuery{NamePrefixes: []string{"\x7f"}}, []string{"ami-d7"}},
		{"U+0080", metadata.ImageQuery{NamePrefixes: []string{"\u0080"}}, []string{"ami-d8"}},
		{"before the surrogates", metadata.ImageQuery{NamePrefixes: []string{"\ud7ff"}}, []string{"ami-e1"}},
		{"after the surrogates", metadata.ImageQuery{NamePrefixes: []string{"\ue000"}}, []string{"ami-e2"}},
		{"the last character", metadata.ImageQuery{NamePrefixes: []string{"\U0010ffff"}}, []string{"ami-e3", "ami-e4"}},
		{"the last character twice", metadata.ImageQuery{NamePrefixes: []string{"\U0010ffff\U0010ffff"}}, []string{}},

		// With other fields.
		{"VisibleTo", metadata.ImageQuery{VisibleTo: acct1, NamePrefixes: []string{"b", "c"}},
			[]string{"ami-a2", "ami-b1", "ami-b2", "ami-c1", "ami-c2"}},
		{"VisibleTo, VisibleOrgs", metadata.ImageQuery{VisibleTo: acct1, VisibleOrgs: []string{org1}, NamePrefixes: []string{"alp"}},
			[]string{"ami-a1", "ami-b4"}},
		{"OwnerIDs", metadata.ImageQuery{OwnerIDs: []string{acct2}, NamePrefixes: []string{"b"}},
			[]string{"ami-b1", "ami-b2", "ami-b3", "ami-b5", "ami-b6"}},
		{"OwnerIDs, VisibleTo", metadata.ImageQuery{VisibleTo: acct3, OwnerIDs: []string{acct2}, NamePrefixes: []string{"b"}},
			[]string{"ami-b2", "ami-b5"}},
		{"IDs", metadata.ImageQuery{IDs: []string{"ami-a1", "ami-a2", "ami-d1", "ami-d2"}, NamePrefixes: []string{"50", "be"}},
			[]string{"ami-a2", "ami-d1", "ami-d2"}},
		{"Names", metadata.ImageQuery{Names: []string{"alpha", "beta"}, NamePrefixes: []string{"be"}}, []string{"ami-a2"}},
		{"ExecutableBy", metadata.ImageQuery{ExecutableBy: []string{acct1, "all"}, NamePrefixes: []string{"c"}},
			[]string{"ami-c1", "ami-c2"}},
		{"States", metadata.ImageQuery{States: []openami.ImageState{openami.ImageFailed}, NamePrefixes: []string{"b"}}, []string{}},
		{"After, Limit", metadata.ImageQuery{VisibleTo: acct1, NamePrefixes: []string{"b", "c"}, After: "ami-a2", Limit: 2},
			[]string{"ami-b1", "ami-b2"}},
	} {
		equal(t, c.name, imageIDs(listImages(t, s, region1, c.q)), c.want)
		for _, limit := range []int{1, 2} {
			if c.q.Limit == 0 {
				equal(t, fmt.Sprintf("%s paged by %d", c.name, limit), pageImages(t, s, c.q, limit), c.want)
			}
		}
	}
	equal(t, "region2", imageIDs(listImages(t, s, region2, metadata.ImageQuery{NamePrefixes: []string{"al"}})), []string{"ami-a3"})
}

// testImageListTags selects by the tags of an account, alone and with
// other fields.
func testImageListTags(t *testing.T, s metadata.Store) {
	imageFixture(t, s)
	const stranger = "999999999999"
	type tm = metadata.TagMatch
	for _, c := range []struct {
		name string
		q    metadata.ImageQuery
		want []string
	}{
		{"key and value", metadata.ImageQuery{TagOwner: acct2, Tags: []tm{{Key: "env", Values: []string{"prod"}}}},
			[]string{"ami-b1", "ami-b2", "ami-b5"}},
		{"key", metadata.ImageQuery{TagOwner: acct2, Tags: []tm{{Key: "env"}}},
			[]string{"ami-b1", "ami-b2", "ami-b4", "ami-b5"}},
		{"key, empty values", metadata.ImageQuery{TagOwner: acct2, Tags: []tm{{Key: "team", Values: []string{}}}},
			[]string{"ami-b2", "ami-b5"}},
		{"two values", metadata.ImageQuery{TagOwner: acct2, Tags: []tm{{Key: "env", Values: []string{"dev", "prod", "dev"}}}},
			[]string{"ami-b1", "ami-b2", "ami-b4", "ami-b5"}},
		{"two entries", metadata.ImageQuery{TagOwner: acct2, Tags: []tm{
			{Key: "env", Values: []string{"prod"}}, {Key: "team", Values: []string{"web"}}}}, []string{"ami-b2"}},
		{"two entries, one without values", metadata.ImageQuery{TagOwner: acct1, Tags: []tm{
			{Key: "team"}, {Key: "env", Values: []string{"prod"}}}}, []string{"ami-a1"}},
		{"the same key twice", metadata.ImageQuery{TagOwner: acct2, Tags: []tm{
			{Key: "env", Values: []string{"prod", "dev"}}, {Key: "env", Values: []string{"dev", "test"}}}}, []string{"ami-b4"}},
		{"values are case-sensitive", metadata.ImageQuery{TagOwner: acct2, Tags: []tm{{Key: "env", Values: []string{"Prod"}}}},
			[]string{}},
		{"keys are case-sensitive", metadata.ImageQuery{TagOwner: acct2, Tags: []tm{{Key: "Env"}}}, []string{}},
		{"no such value", metadata.ImageQuery{TagOwner: acct2, Tags: []tm{{Key: "env", Values: []string{"test"}}}}, []string{}},
		// Tags are the TagOwner's, whoever owns the image.
		{"another account's tags", metadata.ImageQuery{TagOwner: acct3, Tags: []tm{{Key: "env", Values: []string{"prod"}}}},
			[]string{"ami-c2"}},
		{"an account without tags", metadata.ImageQuery{TagOwner: stranger, Tags: []tm{{Key: "env"}}}, []string{}},
		{"no TagOwner", metadata.ImageQuery{Tags: []tm{{Key: "env"}}}, []string{}},
		{"a tag on an image the TagOwner does not own", metadata.ImageQuery{TagOwner: acct1, Tags: []tm{{Key: "env", Values: []string{"prod"}}}},
			[]string{"ami-a1", "ami-b3"}},
		{"TagOwner alone", metadata.ImageQuery{TagOwner: acct1, Limit: 3}, []string{"ami-a1", "ami-a2", "ami-b1"}},

		// With visibility.
		{"VisibleTo the owner", metadata.ImageQuery{VisibleTo: acct1, TagOwner: acct1, Tags: []tm{{Key: "env"}}},
			[]string{"ami-a1", "ami-a2"}},
		{"VisibleTo, OwnerIDs", metadata.ImageQuery{VisibleTo: acct1, OwnerIDs: []string{acct1}, TagOwner: acct1, Tags: []tm{{Key: "env"}}},
			[]string{"ami-a1", "ami-a2"}},
		{"VisibleTo another", metadata.ImageQuery{VisibleTo: acct3, TagOwner: acct2, Tags: []tm{{Key: "env", Values: []string{"prod"}}}},
			[]string{"ami-b2", "ami-b5"}},
		{"VisibleTo, VisibleOrgs", metadata.ImageQuery{VisibleTo: acct1, VisibleOrgs: []string{ou1}, TagOwner: acct2, Tags: []tm{{Key: "env"}}},
			[]string{"ami-b1", "ami-b2", "ami-b5"}},
		{"VisibleOrgs alone", metadata.ImageQuery{VisibleOrgs: []string{org1}, TagOwner: acct2, Tags: []tm{{Key: "env"}}},
			[]string{"ami-b2", "ami-b4"}},
		{"VisibleTo a stranger", metadata.ImageQuery{VisibleTo: stranger, TagOwner: acct2, Tags: []tm{{Key: "env"}}},
			[]string{"ami-b2"}},
		{"ExecutableBy", metadata.ImageQuery{ExecutableBy: []string{acct1}, TagOwner: acct2, Tags: []tm{{Key: "env"}}},
			[]string{"ami-b1"}},
		{"ExecutableBy all", metadata.ImageQuery{ExecutableBy: []string{"all"}, TagOwner: acct2, Tags: []tm{{Key: "env"}}},
			[]string{"ami-b2"}},
		{"ExecutableBy the owner", metadata.ImageQuery{ExecutableBy: []string{acct2}, TagOwner: acct2, Tags: []tm{{Key: "env"}}},
			[]string{}},
		{"ExecutableOrgs, VisibleTo", metadata.ImageQuery{VisibleTo: acct3, ExecutableBy: []string{acct3}, ExecutableOrgs: []string{org1},
			TagOwner: acct2, Tags: []tm{{Key: "env"}}}, []string{"ami-b5"}},

		// With other fields.
		{"IDs", metadata.ImageQuery{IDs: []string{"ami-b1", "ami-b4", "ami-a1", "ami-none"}, TagOwner: acct2,
			Tags: []tm{{Key: "env", Values: []string{"prod"}}}}, []string{"ami-b1"}},
		{"IDs, VisibleTo", metadata.ImageQuery{VisibleTo: acct3, IDs: []string{"ami-b1", "ami-b2", "ami-b5"}, TagOwner: acct2,
			Tags: []tm{{Key: "env", Values: []string{"prod"}}}}, []string{"ami-b2", "ami-b5"}},
		{"OwnerIDs", metadata.ImageQuery{OwnerIDs: []string{acct1, acct3}, TagOwner: acct2, Tags: []tm{{Key: "env"}}}, []string{}},
		{"OwnerAliases", metadata.ImageQuery{OwnerAliases: []string{"amazon"}, TagOwner: acct2, Tags: []tm{{Key: "env"}}},
			[]string{"ami-b2"}},
		{"NamePrefixes", metadata.ImageQuery{VisibleTo: acct1, NamePrefixes: []string{"al", "b"}, TagOwner: acct1,
			Tags: []tm{{Key: "env", Values: []string{"prod"}}}}, []string{"ami-a1"}},
		{"Names, States", metadata.ImageQuery{Names: []string{"b4", "alpha"}, States: []openami.ImageState{openami.ImageAvailable},
			TagOwner: acct2, Tags: []tm{{Key: "env"}}}, []string{"ami-b4"}},
		{"After, Limit", metadata.ImageQuery{VisibleTo: acct1, TagOwner: acct2, Tags: []tm{{Key: "env"}}, After: "ami-b1", Limit: 1},
			[]string{"ami-b2"}},
		{"After the last", metadata.ImageQuery{TagOwner: acct2, Tags: []tm{{Key: "env"}}, After: "ami-b5"}, []string{}},
	} {
		equal(t, c.name, imageIDs(listImages(t, s, region1, c.q)), c.want)
		if c.q.Limit == 0 {
			for _, limit := range []int{1, 2} {
				equal(t, fmt.Sprintf("%s paged by %d", c.name, limit), pageImages(t, s, c.q, limit), c.want)
			}
		}
	}
	equal(t, "region2", imageIDs(listImages(t, s, region2, metadata.ImageQuery{TagOwner: acct1, Tags: []tm{{Key: "env"}}})),
		[]string{"ami-a3"})
	equal(t, "region2, another account", imageIDs(listImages(t, s, region2, metadata.ImageQuery{TagOwner: acct2, Tags: []tm{{Key: "env"}}})),
		[]string{})
}
