package sqldb

import (
	"testing"
	"time"
)

func TestRebind(t *testing.T) {
	numbered := &Dialect{Numbered: true}
	for _, c := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ? AND b IN (?, ?)", "a = $1 AND b IN ($2, $3)"},
		{"x = '?' AND y = ?", "x = '?' AND y = $1"},
		{`"we?ird" = ? AND z = 'it''s ?'`, `"we?ird" = $1 AND z = 'it''s ?'`},
		{"(a, b) > (?, ?) LIMIT ?", "(a, b) > ($1, $2) LIMIT $3"},
	} {
		if got := numbered.Rebind(c.in); got != c.want {
			t.Errorf("Rebind(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := (&Dialect{}).Rebind(c.in); got != c.in {
			t.Errorf("Rebind(%q) without Numbered = %q", c.in, got)
		}
	}
}

func TestPlaceholders(t *testing.T) {
	for n, want := range map[int]string{0: "", 1: "?", 3: "?, ?, ?"} {
		if got := placeholders(n); got != want {
			t.Errorf("placeholders(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	for attempt := 1; attempt <= 40; attempt++ {
		for range 20 {
			d := backoff(attempt)
			if d <= 0 || d > 150*time.Millisecond {
				t.Fatalf("backoff(%d) = %v, want in (0, 150ms]", attempt, d)
			}
		}
	}
}

func TestNanos(t *testing.T) {
	if got := fromNanos(nanos(time.Time{})); !got.IsZero() {
		t.Errorf("zero time came back as %v", got)
	}
	at := time.Date(2030, 1, 2, 3, 4, 5, 6, time.FixedZone("Z", 3600))
	got := fromNanos(nanos(at))
	if !got.Equal(at) || got.Location() != time.UTC {
		t.Errorf("%v came back as %v", at, got)
	}
}
