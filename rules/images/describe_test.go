package images

import (
	"errors"
	"reflect"
	"testing"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/metadata"
)

// TestPushDownImageFilters: name prefixes and the caller's literal tag
// values go to the store, keyed by the rules' own attribute for the name
// (the API has renamed EC2's "name" to it by then).
func TestPushDownImageFilters(t *testing.T) {
	p := openami.Principal{AccountID: "111122223333"}
	var q metadata.ImageQuery
	pushDownImageFilters(&q, []filter.Filter{
		{Name: string(AttrName), Values: []string{"app1-*", "exact"}},
		{Name: "tag:env", Values: []string{"prod"}},
	}, p)
	if !reflect.DeepEqual(q.NamePrefixes, []string{"app1-", "exact"}) {
		t.Errorf("NamePrefixes = %q", q.NamePrefixes)
	}
	if q.TagOwner != p.AccountID || !reflect.DeepEqual(q.Tags, []metadata.TagMatch{{Key: "env", Values: []string{"prod"}}}) {
		t.Errorf("TagOwner, Tags = %q, %+v", q.TagOwner, q.Tags)
	}
	q = metadata.ImageQuery{}
	pushDownImageFilters(&q, []filter.Filter{{Name: string(AttrName), Values: []string{"a*b"}}}, p)
	if q.NamePrefixes != nil {
		t.Errorf("a pattern that is no prefix pushed %q", q.NamePrefixes)
	}
}

// TestImagesNotFoundWording: one missing image and several are named as
// EC2 names them.
func TestImagesNotFoundWording(t *testing.T) {
	for ids, want := range map[string][]string{
		"The image id '[ami-1]' does not exist":       {"ami-1"},
		"The image ids '[ami-1, ami-2]' do not exist": {"ami-1", "ami-2"},
	} {
		err := imagesNotFound(want)
		var e *openami.Error
		if !errors.As(err, &e) || e.Class != openami.NotFound || e.Message != ids {
			t.Errorf("imagesNotFound(%q) = %v, want %q", want, err, ids)
		}
	}
}
