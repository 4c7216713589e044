package transport

import (
	"errors"
	"fmt"
	"testing"

	"github.com/openami/openami"
)

// TestClassifyContended: a store transaction that kept losing races is
// the server being busy (a 503 each protocol's clients retry), not an
// internal error; an unrelated error is no transport failure.
func TestClassifyContended(t *testing.T) {
	err := fmt.Errorf("run instances: %w", fmt.Errorf("sqldb: update: %w after 30 attempts: %w", openami.ErrContended, errors.New("40001")))
	te, ok := Classify(err)
	if !ok || te.Failure != Busy {
		t.Fatalf("Classify(contended) = %+v, %v; want Busy", te, ok)
	}
	if te, ok := Classify(errors.New("disk on fire")); ok {
		t.Errorf("Classify(other) = %+v, want none", te)
	}
}
