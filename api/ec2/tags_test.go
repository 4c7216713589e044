package ec2

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/openami/openami"
)

// TestTagsWithoutResources: CreateTags and DeleteTags naming no resource
// are MissingParameter about resourceIdSet, in EC2's words, before the
// rules are asked (the handler has none here).
func TestTagsWithoutResources(t *testing.T) {
	h := &Handler{}
	for name, act := range map[string]func(*call) (responder, error){"CreateTags": h.createTags, "DeleteTags": h.deleteTags} {
		_, err := act(&call{ctx: context.Background(), params: url.Values{"Tag.1.Key": {"k"}, "Tag.1.Value": {"v"}}})
		var e *openami.Error
		if !errors.As(err, &e) || e.Class != openami.MissingParameter || e.Message != "The request must contain the parameter resourceIdSet" {
			t.Errorf("%s without ResourceId: %v", name, err)
		}
	}
}
