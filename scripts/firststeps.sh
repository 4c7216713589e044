#!/usr/bin/env bash
# Runs the README's "First steps" exactly as written there, one command
# after another as a newcomer types them, on a fresh home directory, and
# prints how long each took. The commands are read from README.md (the
# sh block between <!-- firststeps:begin --> and <!-- firststeps:end -->),
# so the README cannot drift from what works: test/e2e's TestQemuFirstSteps
# runs this script.
#
#   scripts/firststeps.sh
#
# What it changes, and why (nothing else):
# - HOME is a new empty directory under the work directory (a fresh
#   machine: no ~/.local/share/openami, no ~/.ssh/known_hosts), with
#   XDG_DATA_HOME and OPENAMI_DATA_DIR unset. GOPATH is under it too (the
#   binary `go install` makes lands there, not in yours); the Go module
#   and build caches and pyenv's root stay yours, so nothing is
#   downloaded or rebuilt that need not be.
# - The install line (`go install … ./cmd/openami`) runs in this
#   checkout; every other line in the work directory (FIRSTSTEPS_DIR, a
#   new temporary directory by default, removed at the end unless
#   FIRSTSTEPS_KEEP=1).
# - FIRSTSTEPS_IMAGE=FILE (offline, as in openami's CI): the download line
#   (`curl -LO URL`) links FILE under the URL's file name instead, and
#   FIRSTSTEPS_LOGIN=NAME replaces the image's login name (debian@) in the
#   ssh lines. openami image import finds a disk's format from its bytes,
#   so a raw disk under a .qcow2 name imports as raw.
# - The last line (the interactive ssh) reads its commands from this
#   script instead of a terminal: it prints the guest's name, addresses
#   and cloud-init's status, and logs out.
# - At the end the server started by the `openami serve … &` line is
#   stopped (its VMs stop with it).
#
# The server's own settings may come from the environment as usual
# (OPENAMI_LISTEN, OPENAMI_PUBLIC_IPS, …: the test gives it a port and a
# public address range of its own).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
readme="$repo/README.md"

work=${FIRSTSTEPS_DIR:-}
if [ -z "$work" ]; then
	work=$(mktemp -d /tmp/ofs-XXXXXX) # short: the server's unix sockets live under HOME
fi
mkdir -p "$work/home"

# The steps: the README's block, without blank and comment-only lines.
mapfile -t steps < <(awk '
	/<!-- firststeps:begin -->/ { on = 1; next }
	/<!-- firststeps:end -->/ { on = 0 }
	on && /^```/ { inblock = !inblock; next }
	on && inblock && $0 !~ /^[[:space:]]*(#|$)/ { print }
' "$readme")
if [ "${#steps[@]}" -eq 0 ]; then
	echo "firststeps: no steps found in $readme" >&2
	exit 1
fi

# The fresh machine.
gomodcache=$(go env GOMODCACHE)
gocache=$(go env GOCACHE)
pyenvroot=""
if command -v pyenv >/dev/null 2>&1; then
	pyenvroot=$(pyenv root)
fi
export HOME="$work/home"
export GOPATH="$work/home/go" GOMODCACHE="$gomodcache" GOCACHE="$gocache"
if [ -n "$pyenvroot" ]; then
	export PYENV_ROOT="$pyenvroot"
fi
unset XDG_DATA_HOME OPENAMI_DATA_DIR AWS_PROFILE AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE \
	AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_DEFAULT_REGION AWS_REGION

serve_pid=""
cleanup() {
	if [ -n "$serve_pid" ]; then
		kill "$serve_pid" 2>/dev/null || true
		wait "$serve_pid" 2>/dev/null || true
	fi
	if [ -z "${FIRSTSTEPS_KEEP:-}" ] && [ -z "${FIRSTSTEPS_DIR:-}" ]; then
		rm -rf "$work"
	fi
}
trap cleanup EXIT

remote='echo "logged in as $(whoami) on $(hostname)"; echo "addresses: $(hostname -I)"; cloud-init status; exit'

log="$work/firststeps.log"
times=()
cd "$work"
for i in "${!steps[@]}"; do
	line=${steps[$i]}
	run=$line
	if [ -n "${FIRSTSTEPS_IMAGE:-}" ] && [[ $line =~ ^curl\ -LO\ ([^ ]+) ]]; then
		url=${BASH_REMATCH[1]}
		run="ln -sf $(printf %q "$FIRSTSTEPS_IMAGE") ${url##*/}"
	fi
	if [ -n "${FIRSTSTEPS_LOGIN:-}" ]; then
		run=${run//debian@/$FIRSTSTEPS_LOGIN@}
	fi
	echo "\$ $line"
	if [ "$run" != "$line" ]; then
		echo "  (runs: $run)"
	fi
	start=$(date +%s.%N)
	if [[ $line == go\ install* ]]; then
		(cd "$repo" && eval "$run")
	elif [ "$i" -eq $((${#steps[@]} - 1)) ] && [[ $line == ssh\ * ]]; then
		eval "$run" <<<"$remote"
	elif [[ $line == *'&' ]]; then
		eval "$run" >>"$log" 2>&1
		serve_pid=$!
	else
		eval "$run"
	fi
	end=$(date +%s.%N)
	times+=("$(awk -v s="$start" -v e="$end" -v l="$line" 'BEGIN { printf "%6.1f s  %s", e - s, l }')")
done

echo
echo "First steps: each command's time (the server's log: $log)"
printf '%s\n' "${times[@]}"
