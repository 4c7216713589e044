package describe

import (
	"reflect"
	"testing"
)

// TestMissing: every id asked for and not found, in the order asked and
// each once; MissingIDs is its first.
func TestMissing(t *testing.T) {
	id := func(s string) string { return s }
	got := Missing([]string{"a", "b", "c", "b", "d"}, []string{"c"}, id)
	if want := []string{"a", "b", "d"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Missing = %q, want %q", got, want)
	}
	if got := Missing([]string{"a"}, []string{"a"}, id); got != nil {
		t.Errorf("Missing with all found = %q", got)
	}
	if got := MissingIDs([]string{"x", "y"}, nil, id); got != "x" {
		t.Errorf("MissingIDs = %q", got)
	}
}

// TestNotFoundSentence: one id takes the singular sentence, several the
// plural with every id.
func TestNotFoundSentence(t *testing.T) {
	n := NotFound{One: "The thing '%s' does not exist.", Many: "The things '%s' do not exist."}
	if got := n.Sentence([]string{"a"}); got != "The thing 'a' does not exist." {
		t.Errorf("one: %q", got)
	}
	if got := n.Sentence([]string{"a", "b"}); got != "The things 'a, b' do not exist." {
		t.Errorf("two: %q", got)
	}
}
