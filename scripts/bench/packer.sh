#!/usr/bin/env bash
# scripts/bench/packer.sh: times a real `packer build` of the README's
# template (examples/packer/debian.json) against `openami serve --runtime
# qemu`, and splits each build's wall time into its phases from Packer's
# timestamped output (-timestamp-ui): boot (RunInstances to SSH
# connected), provisioning, stop, CreateImage (to `available`), cleanup.
# Not part of the test run; results in docs/BENCHMARKS.md ("Packer").
#
#   scripts/bench/packer.sh                # one build
#   RUNS=3 scripts/bench/packer.sh         # three builds, one server
#
# Needs packer (Debian's 1.6.6), qemu-system-x86_64, python3 with boto3,
# and root or net.ipv4.ip_unprivileged_port_start<=22 (SSH is port 22,
# docs/NETWORK.md). The Debian cloud image comes from IMAGE, or else
# internal/testenv's cache (built there first if it is not).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
RUNS=${RUNS:-1}

work=$(mktemp -d /tmp/opk-XXXXXX)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -z "${IMAGE:-}" ]; then
  IMAGE=$(go test -count=1 -v -timeout 20m -run '^TestCloudImage$' ./internal/testenv | sed -n 's/.*image: \(.*\.raw\)$/\1/p')
  [ -n "$IMAGE" ] || { echo "bench: no cloud image (go test -run TestCloudImage ./internal/testenv)" >&2; exit 1; }
fi
echo "bench: image $IMAGE" >&2

go build -buildvcs=true -o "$work/openami" ./cmd/openami
# A public pool of its own: another server on the machine may hold the
# default pool's first address.
pool=127.$((100 + RANDOM % 100)).$((RANDOM % 256)).0/28
"$work/openami" serve --listen 127.0.0.1:0 --data-dir "$work/data" --runtime qemu --public-ips "$pool" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  url=$(sed -n 's/^openami listening on \(http[^ ]*\).*/\1/p' "$work/server.log")
  [ -n "$url" ] && break
  sleep 0.2
done
[ -n "$url" ] || { cat "$work/server.log" >&2; exit 1; }
grep -m1 'accelerator' "$work/server.log" >&2 || true

creds=$work/data/credentials
export AWS_ACCESS_KEY_ID=$(sed -n 's/^aws_access_key_id = //p' "$creds")
export AWS_SECRET_ACCESS_KEY=$(sed -n 's/^aws_secret_access_key = //p' "$creds")
export AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL=$url AWS_EC2_METADATA_DISABLED=true
export CHECKPOINT_DISABLE=1 PACKER_CACHE_DIR=$work/packer_cache

python3 scripts/cloudimage/register.py --name debian-12 "$IMAGE" >/dev/null

echo "| run | build s | boot s (RunInstances → SSH) | provisioning s | stop s (openami's own) | CreateImage → available s | cleanup s |"
echo "|--:|--:|--:|--:|--:|--:|--:|"
for run in $(seq "$RUNS"); do
  out=$work/packer-$run.out
  PACKER_LOG=1 PACKER_LOG_PATH=$work/packer-$run.log \
    packer build -timestamp-ui -color=false -var endpoint="$url" -var ami_name="bench-$run-$(date +%s)" \
    examples/packer/debian.json >"$out" 2>&1 || { cat "$out" >&2; exit 1; }
  python3 - "$out" "$run" "$work/server.log" <<'PY'
import datetime, re, sys
path, run, server_log = sys.argv[1], sys.argv[2], sys.argv[3]
marks = {}
first = last = None
for line in open(path):
    ts, sep, text = line.partition(": ")
    try:
        t = datetime.datetime.strptime(ts.strip(), "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        continue
    first = first or t
    last = t
    for key, needle in [("launch", "Launching a source AWS instance"), ("ssh", "Connected to SSH!"),
                        ("provision", "Provisioning with"), ("stop", "Stopping the source instance"),
                        ("create", "Creating AMI "), ("available", "Adding tags to AMI"),
                        ("terminate", "Terminating the source AWS instance")]:
        if needle in text and key not in marks:
            marks[key] = t
# Packer polls for `stopped` every 15 s; the server's log says when the
# guest really powered off: StopInstances, then "VM stopped".
stops, stopped = [], []
for line in open(server_log):
    m = re.match(r"time=(\S+)Z ", line)
    if not m:
        continue
    t = datetime.datetime.fromisoformat(m.group(1))
    if "action=StopInstances" in line:
        stops.append(t)
    elif 'msg="VM stopped"' in line and len(stopped) < len(stops):
        stopped.append(t)
real_stop = (stopped[-1] - stops[-1]).total_seconds() if stopped and len(stopped) == len(stops) else float("nan")
def s(a, b):
    return int((marks[b] - marks[a]).total_seconds())
print(f"| {run} | {int((last - first).total_seconds())} | {s('launch', 'ssh')} | {s('provision', 'stop')} | "
      f"{s('stop', 'create')} ({real_stop:.1f}) | {s('create', 'available')} | {int((last - marks['terminate']).total_seconds())} |")
PY
done
