#!/usr/bin/env bash
# check.sh [IMAGE.raw]: boots the openami cloud image (build.sh; built first
# when no image is given) with QEMU and a fake IMDS (fake_imds.py), and
# checks that cloud-init set it up: SSH as admin with the key from the
# metadata, sudo, the hostname, the user data's marker file and console line.
# Prints timings from QEMU's start, what cloud-init asked the fake IMDS, and
# exits non-zero with the console's tail on failure. See docs/CLOUDIMAGE.md.
#
# Environment:
#   ACCEL      tcg (default) or kvm (then -accel kvm -cpu host)
#   EC2_SMBIOS 1 (default): give the guest EC2's SMBIOS fields, as openami
#              does (cloud-init's ds-identify then finds its Ec2 datasource
#              and uses IMDSv2 tokens); 0: none (the image names no
#              datasource, so cloud-init then stays disabled: check fails)
#   IMDS_TOKENS  optional (default), required or disabled (fake_imds.py)
#   MEMORY     guest MiB (default 1024)
#   TIMEOUT    seconds to wait for SSH and the marker (default 600)
#   WORKDIR    default a temp dir, removed afterwards unless KEEP=1
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORKDIR=${WORKDIR:-$(mktemp -d "${TMPDIR:-/tmp}/openami-cloudimage-check.XXXXXX")}
mkdir -p "$WORKDIR"
WORKDIR=$(cd "$WORKDIR" && pwd)
QPID=
cleanup() {
	[ -n "$QPID" ] && kill "$QPID" 2>/dev/null || true
	[ "${KEEP:-}" = 1 ] || rm -rf "$WORKDIR"
}
trap cleanup EXIT
say() { echo "check.sh: $*" >&2; }
fail() {
	echo "check.sh: FAIL: $*" >&2
	if [ -e "$WORKDIR/console" ]; then
		echo "check.sh: console, last 40 lines:" >&2
		tr -d '\r' < "$WORKDIR/console" | tail -n 40 >&2
	fi
	[ -s "$WORKDIR/qemu.log" ] && { echo "check.sh: qemu:" >&2; tail -n 5 "$WORKDIR/qemu.log" >&2; }
	exit 1
}

for t in qemu-system-x86_64 python3 ssh ssh-keygen; do
	command -v "$t" >/dev/null 2>&1 || fail "missing tool: $t (apt-get install qemu-system-x86 python3 openssh-client)"
done
case "$HERE" in *[\ ,]*) fail "the fake IMDS path must not contain spaces or commas: $HERE" ;; esac

IMAGE=${1:-}
if [ -z "$IMAGE" ]; then
	IMAGE=$WORKDIR/cloudimage.raw
	"$HERE/build.sh" "$IMAGE"
fi
IMAGE=$(realpath "$IMAGE")
[ -f "$IMAGE" ] || fail "no image $IMAGE"

case "${ACCEL:-tcg}" in
tcg) ACCEL_ARGS=(-accel tcg) ;;
kvm) ACCEL_ARGS=(-accel kvm -cpu host) ;;
*) fail "ACCEL: tcg or kvm" ;;
esac

# A key pair of our own, user data that writes a file and prints a line.
ssh-keygen -q -t ed25519 -N '' -C openami-cloudimage-check -f "$WORKDIR/key"
TOKEN=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
cat > "$WORKDIR/user-data" <<UD
#cloud-config
write_files:
  - path: /var/lib/openami-check/marker
    content: "openami-cloudimage-check $TOKEN\n"
runcmd:
  - [ sh, -c, 'echo "openami-cloudimage: user-data ran $TOKEN" > /dev/console' ]
UD
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
INSTANCE_ID=i-0c10d1a5e$TOKEN
HOSTNAME=ip-169-254-2-15.openami.internal

export FAKE_IMDS_SSH_KEY
FAKE_IMDS_SSH_KEY=$(cat "$WORKDIR/key.pub")
export FAKE_IMDS_USER_DATA=$WORKDIR/user-data FAKE_IMDS_LOG=$WORKDIR/imds.log
export FAKE_IMDS_INSTANCE_ID=$INSTANCE_ID FAKE_IMDS_HOSTNAME=$HOSTNAME
export FAKE_IMDS_TOKENS=${IMDS_TOKENS:-optional}

ARGS=(
	"${ACCEL_ARGS[@]}" -m "${MEMORY:-1024}" -smp 1
	# -snapshot: the image file is not changed (writes go to a temp file)
	-drive "file=$IMAGE,format=raw,if=virtio,cache=writeback" -snapshot
	# user-mode network on 169.254.0.0/16 (the guest gets 169.254.2.15);
	# each guest connection to 169.254.169.254:80 runs one fake_imds.py;
	# SSH reaches the guest through a local port.
	-netdev "user,id=net0,net=169.254.0.0/16,hostfwd=tcp:127.0.0.1:$PORT-:22,guestfwd=tcp:169.254.169.254:80-cmd:python3 -I $HERE/fake_imds.py"
	-device virtio-net-pci,netdev=net0,romfile=
	-display none -serial "file:$WORKDIR/console"
	-monitor "unix:$WORKDIR/monitor,server=on,wait=off"
)
if [ "${EC2_SMBIOS:-1}" = 1 ]; then
	# What an EC2 instance shows, and openami's runtime gives (runtime/qemu
	# args.go): a system UUID starting with "ec2" that equals the serial
	# number (ds-identify's test for AWS), the instance type as product.
	U=ec2$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n' | cut -c 1-5)-1234-5678-9abc-def012345678
	ARGS+=(-smbios "type=1,manufacturer=Amazon EC2,product=t3.micro,serial=$U,uuid=$U")
fi

T0=$EPOCHREALTIME
elapsed() { awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
say "booting $IMAGE (${ACCEL:-tcg}), SSH on 127.0.0.1:$PORT"
qemu-system-x86_64 "${ARGS[@]}" > "$WORKDIR/qemu.log" 2>&1 &
QPID=$!

SSH=(ssh -i "$WORKDIR/key" -p "$PORT" -o BatchMode=yes -o ConnectTimeout=5
	-o StrictHostKeyChecking=no -o UserKnownHostsFile="$WORKDIR/known_hosts" -o LogLevel=ERROR admin@127.0.0.1)
declare -A AT=()
# note NAME REGEX: records when a console line matching REGEX first appears.
note() {
	[ -n "${AT[$1]:-}" ] && return 0
	grep -aq -- "$2" "$WORKDIR/console" 2>/dev/null && AT[$1]=$(elapsed)
	return 0
}
END=$((SECONDS + ${TIMEOUT:-600}))
while :; do
	kill -0 "$QPID" 2>/dev/null || fail "QEMU exited after $(elapsed) s"
	[ $SECONDS -lt $END ] || fail "no SSH login and user-data marker within ${TIMEOUT:-600} s"
	note mbr 'openami-cloudimage: booting'
	note kernel 'Linux version'
	note root 'EXT4-fs (vda2): mounted'
	note login ' login: '
	note userdata "openami-cloudimage: user-data ran $TOKEN"
	if [ -z "${AT[ssh]:-}" ] && [ -n "${AT[login]:-}${AT[userdata]:-}" ] || [ -z "${AT[ssh]:-}" ] && [ $((SECONDS % 5)) -eq 0 ]; then
		"${SSH[@]}" true 2>/dev/null && AT[ssh]=$(elapsed)
	fi
	[ -n "${AT[ssh]:-}" ] && [ -n "${AT[userdata]:-}" ] && break
	sleep 0.5
done

# Inside: the user data's file, sudo, the hostname, the key came from the
# IMDS, the host keys were made on this boot, cloud-init's result.
OUT=$("${SSH[@]}" "cat /var/lib/openami-check/marker; sudo -n true && echo sudo-ok; hostname -f; \
	cat /proc/uptime; systemd-analyze 2>/dev/null | head -n 1; cloud-init status --long 2>/dev/null | sed -n 's/^status: /cloud-init: /p; /^DataSource/p'; \
	sudo -n cat /var/lib/cloud/data/instance-id") || fail "ssh commands failed"
echo "$OUT" | sed 's/^/check.sh: guest: /' >&2
grep -qx "openami-cloudimage-check $TOKEN" <<< "$OUT" || fail "user-data marker file missing"
grep -qx 'sudo-ok' <<< "$OUT" || fail "sudo -n true failed for admin"
grep -qx "$HOSTNAME" <<< "$OUT" || grep -qx "${HOSTNAME%%.*}" <<< "$OUT" || fail "hostname is not $HOSTNAME"
grep -qx 'cloud-init: done' <<< "$OUT" || fail "cloud-init did not finish cleanly"
grep -q '^DataSourceEc2' <<< "$OUT" || fail "cloud-init did not use the Ec2 datasource"
grep -qx "$INSTANCE_ID" <<< "$OUT" || fail "cloud-init's instance id is not $INSTANCE_ID"

# ACPI power-down: QEMU must exit by itself.
TD=$EPOCHREALTIME
python3 -c 'import socket,sys,time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); time.sleep(0.2)
s.sendall(b"system_powerdown\n"); time.sleep(0.2); s.close()' "$WORKDIR/monitor"
for ((i = 0; i < 1200; i++)); do kill -0 "$QPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$QPID" 2>/dev/null && fail "QEMU still running 120 s after system_powerdown"
wait "$QPID" || fail "QEMU exit status $?"
QPID=
DOWN=$(awk -v a="$TD" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')

say "cloud-init asked the fake IMDS (tokens ${FAKE_IMDS_TOKENS}):"
awk '{ $1 = ""; print }' "$WORKDIR/imds.log" | uniq -c | sed 's/^/check.sh:   /' >&2
say "timings (${ACCEL:-tcg}, s from QEMU's start): MBR ${AT[mbr]:-?}, kernel ${AT[kernel]:-?}, root mounted ${AT[root]:-?}, login prompt ${AT[login]:-?}, user data ran ${AT[userdata]:-?}, SSH login ${AT[ssh]}; power-down ${DOWN}"
say "all checks passed"
