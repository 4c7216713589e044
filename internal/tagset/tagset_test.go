package tagset

import (
	"errors"
	"testing"

	"github.com/openami/openami"
)

// TestForRefusesEmptySpec: a TagSpecification with no tag is
// InvalidParameter in EC2's words (CreateVolume, RunInstances … refuse
// it); one with tags gives them.
func TestForRefusesEmptySpec(t *testing.T) {
	_, err := For([]Spec{{ResourceType: openami.ResourceVolume}}, openami.ResourceVolume, openami.ResourceVolume)
	var e *openami.Error
	if !errors.As(err, &e) || e.Class != openami.InvalidParameter || e.Message != "Tag specification must have at least one tag" {
		t.Fatalf("an empty tag specification: %v", err)
	}
	tags, err := For([]Spec{{ResourceType: openami.ResourceVolume, Tags: []openami.Tag{{Key: "k", Value: "v"}}}}, openami.ResourceVolume, openami.ResourceVolume)
	if err != nil || len(tags) != 1 || tags[0].Key != "k" {
		t.Fatalf("a tag specification with a tag: %v, %v", tags, err)
	}
}
