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
