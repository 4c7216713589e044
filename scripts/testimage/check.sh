#!/usr/bin/env bash
# check.sh [IMAGE.raw]: checks the openami test image end to end with QEMU
# and prints boot timings. Builds the image first when none is given.
#
#  1. boot with user data that writes /data/proof; see the markers, the
#     instance id, the key and the user data; ACPI power-down ends QEMU
#  2. boot again: the proof is printed
#  3. the image at the start of a 4 GiB sparse file boots, with IMDSv1 only
#     and a file it writes survives a hard reset (system_reset)
#  4. IMDSv2 required (tokens mandatory) still gets everything
#  5. the power button during boot (right after DHCP) powers off too
#
# Environment: ACCEL (auto|kvm|tcg, default auto), WORKDIR (default a temp
# dir, removed afterwards unless KEEP=1).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORKDIR=${WORKDIR:-$(mktemp -d "${TMPDIR:-/tmp}/openami-testimage-check.XXXXXX")}
mkdir -p "$WORKDIR"
[ "${KEEP:-}" = 1 ] || trap 'rm -rf "$WORKDIR"' EXIT
fail() { echo "check.sh: FAIL: $*" >&2; exit 1; }
say() { echo "check.sh: $*" >&2; }

IMAGE=${1:-}
if [ -z "$IMAGE" ]; then
	IMAGE=$WORKDIR/testimage.raw
	"$HERE/build.sh" "$IMAGE"
fi
ACCEL=${ACCEL:-auto}
[ "$ACCEL" = auto ] && ACCEL=$("$HERE/boot.sh" --probe "$IMAGE")

cat > "$WORKDIR/user-data" <<'EOF'
#!/bin/sh
echo "user data says hello"
if [ ! -e /data/proof ]; then
	echo "written-by-user-data" > /data/proof
	echo "proof written"
fi
EOF

# boot NAME DISK [boot.sh options]: boots DISK in the background, serial
# console in $WORKDIR/NAME.console.
PID=
boot() {
	local name=$1 disk=$2
	shift 2
	rm -f "$WORKDIR/$name.console"
	T0=$EPOCHREALTIME
	"$HERE/boot.sh" --accel "$ACCEL" --serial "$WORKDIR/$name.console" \
		--imds-log "$WORKDIR/$name.imds" "$@" "$disk" 2> "$WORKDIR/$name.qemu" &
	PID=$!
}

# wait_for NAME REGEX SECONDS [COUNT]: waits for COUNT (default 1) console
# lines matching REGEX; sets ELAPSED to the seconds since the boot started.
wait_for() {
	local f=$WORKDIR/$1.console end=$((SECONDS + $3)) c
	while [ $SECONDS -lt $end ]; do
		c=$(grep -ac -- "$2" "$f" 2>/dev/null || true)
		if [ "${c:-0}" -ge "${4:-1}" ]; then
			ELAPSED=$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
			return 0
		fi
		kill -0 "$PID" 2>/dev/null || fail "$1: QEMU exited before '$2' ($(tail -n 3 "$WORKDIR/$1.qemu"))"
		sleep 0.05
	done
	tail -n 20 "$f" >&2 || true
	fail "$1: no '$2' within $3 s"
}

# expect NAME REGEX: the console of NAME has a line matching REGEX.
expect() {
	grep -aq -- "$2" "$WORKDIR/$1.console" || { tr -d '\r' < "$WORKDIR/$1.console" | grep -a openami-testimage >&2; fail "$1: no line '$2'"; }
}

# monitor NAME COMMAND: one QEMU monitor command.
monitor() {
	python3 -c 'import socket,sys,time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); time.sleep(0.2)
s.sendall(sys.argv[2].encode() + b"\n"); time.sleep(0.2); s.close()' "$WORKDIR/$1.console.monitor" "$2"
}

# powerdown NAME: ACPI power button; QEMU must exit by itself. Sets ELAPSED.
powerdown() {
	local t0=$EPOCHREALTIME i
	monitor "$1" system_powerdown
	for ((i = 0; i < 300; i++)); do
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$PID" 2>/dev/null && { kill "$PID"; fail "$1: QEMU still running 30 s after system_powerdown"; }
	ELAPSED=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
	local rc=0
	wait "$PID" || rc=$?
	[ $rc -eq 0 ] || fail "$1: QEMU exit status $rc"
	expect "$1" 'openami-testimage: data unmounted'
	expect "$1" 'reboot: Power down'
}

# run NAME DISK OPTIONS...: one boot, timed, then power-down. With
# RESET=1, a hard reset (no shutdown, no sync) after init done and a second
# boot first.
run() {
	local name=$1 first started init down n=1
	boot "$@"
	if [ "${RESET:-}" = 1 ]; then
		wait_for "$name" 'openami-testimage: init done' 300
		monitor "$name" system_reset
		T0=$EPOCHREALTIME
		n=2
	fi
	wait_for "$name" 'openami-testimage: booting' 120 $n
	first=$ELAPSED
	wait_for "$name" 'openami-testimage: init started' 300 $n
	started=$ELAPSED
	wait_for "$name" 'openami-testimage: init done' 300 $n
	init=$ELAPSED
	powerdown "$name"
	down=$ELAPSED
	say "$name ($ACCEL): first marker ${first}s, init started ${started}s, init done ${init}s, power-down ${down}s, guest uptime at init done $(tr -d '\r' < "$WORKDIR/$name.console" | sed -n 's/.*openami-testimage: uptime //p' | tail -n 1)s${RESET:+ (boot after a hard reset)}"
}

DISK=$WORKDIR/disk.raw
cp --sparse=always "$IMAGE" "$DISK"

run boot1 "$DISK" --user-data "$WORKDIR/user-data"
for l in 'openami-testimage: init started' 'openami-testimage: data /dev/vda2 mounted' \
	'openami-testimage: ip eth0 169\.254\.' 'openami-testimage: imds v2' \
	'openami-testimage: instance-id i-0123456789abcdef0' 'openami-testimage: openssh-key ssh-ed25519 ' \
	'openami-testimage: user-data #!/bin/sh' '^user data says hello' '^proof written' \
	'openami-testimage: user-data script exit 0'; do
	expect boot1 "$l"
done
grep -aq 'openami-testimage: proof' "$WORKDIR/boot1.console" && fail "boot1: proof before it was written"

run boot2 "$DISK"
expect boot2 'openami-testimage: proof written-by-user-data'
expect boot2 'openami-testimage: user-data none'

BIG=$WORKDIR/big.raw
truncate -s 4G "$BIG"
dd if="$IMAGE" of="$BIG" bs=1M conv=notrunc,sparse status=none
RESET=1 run big "$BIG" --tokens disabled --user-data "$WORKDIR/user-data"
expect big 'openami-testimage: imds v1'
expect big 'openami-testimage: instance-id i-0123456789abcdef0'
expect big '^proof written'   # a fresh copy of the image: the script writes the proof
expect big 'openami-testimage: proof written-by-user-data'   # after the hard reset

run required "$DISK" --tokens required
expect required 'openami-testimage: imds v2'
expect required 'openami-testimage: openssh-key ssh-ed25519 '
expect required 'openami-testimage: proof written-by-user-data'
# The power button while the boot script is still running (network up,
# user data not yet run).
boot early "$DISK"
wait_for early 'openami-testimage: ip ' 300
powerdown early
say "early (power button right after the DHCP lease): power-down ${ELAPSED}s"
say "all checks passed"
