// Package bench measures the request rate and latency of the openami API as
// users run it: the binary built from ./cmd/openami, serving on loopback in
// its own process, once on SQLite (the default) and once on a throwaway
// PostgreSQL, and, for comparison in the same run, moto_server.
//
// It holds only benchmarks, so `go test ./...` compiles it and runs
// nothing. Run it with
//
//	go test -run '^$' -bench . -benchtime 3s -timeout 15m ./bench/
//
// docs/BENCHMARKS.md describes what is measured and the latest results.
package bench

import (
	"testing"

	"github.com/openami/openami/internal/testenv"
)

// TestMain stops the PostgreSQL cluster testenv starts for the benchmarks.
func TestMain(m *testing.M) { testenv.Main(m) }
