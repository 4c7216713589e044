#!/usr/bin/env bash
# The one command that runs openami's tests. .ci/run calls it too.
set -euo pipefail
cd "$(dirname "$0")/.."
go vet ./...
go test -count=1 -timeout 45m ./... "$@"
