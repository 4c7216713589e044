// Package bench measures the request rate and latency of the openami API as
// users run it: the binary built from ./cmd/openami, serving on loopback in
// its own process, once on SQLite (the default) and once on a throwaway
// PostgreSQL, and, for comparison in the same run, moto_server.
// BenchmarkBlocks (blocks_test.go) measures the block store the same way:
// ingest through the EBS direct API against sha256sum, disk footprint
// after copies, and CreateVolume latency against snapshot size.
// BenchmarkImages (images_test.go) measures DescribeImages with 100,000
// registered images against moto_server.
// BenchmarkMixedLoad (mixed_test.go) measures 64 clients writing and
// reading at once, optionally against an older commit in the same run.
// BenchmarkSSH (ssh_test.go) measures SSH logins to, and scp into, the
// Debian cloud image under the qemu runtime against QEMU run directly.
// BenchmarkS3 (s3_test.go) measures S3 put and get throughput of 1 GiB
// objects, 8 parts or ranges at once, against MinIO.
//
// BenchmarkNodes (nodes_test.go) measures DescribeImages, RunInstances
// and PutSnapshotBlock on 1, 2 and 3 API nodes of one PostgreSQL and
// MinIO (test/cluster).
//
// It holds only benchmarks, so `go test ./...` compiles it and runs
// nothing. Run it with
//
//	go test -run '^$' -bench API -benchtime 3s -timeout 15m ./bench/
//	go test -run '^$' -bench Blocks -benchtime 1x -timeout 20m ./bench/
//	go test -run '^$' -bench Images -benchtime 1x -timeout 20m ./bench/
//	go test -run '^$' -bench MixedLoad -benchtime 1x -timeout 20m ./bench/
//	go test -run '^$' -bench SSH -benchtime 1x -timeout 90m ./bench/
//	go test -run '^$' -bench S3 -benchtime 1x -timeout 30m ./bench/
//	go test -run '^$' -bench Nodes -benchtime 1x -timeout 20m ./bench/
//
// docs/BENCHMARKS.md describes what is measured and the latest results.
package bench

import (
	"testing"

	"github.com/openami/openami/internal/testenv"
)

// TestMain stops the PostgreSQL cluster testenv starts for the benchmarks.
func TestMain(m *testing.M) { testenv.Main(m) }
