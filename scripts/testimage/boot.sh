#!/usr/bin/env bash
# boot.sh [options] IMAGE.raw: boots the openami test image (build.sh) with
# qemu-system-x86_64 for a manual check, with a fake instance metadata
# service at 169.254.169.254 (fake_imds.py). See docs/TESTIMAGE.md.
#
# Interactive (default): the serial console and the QEMU monitor share the
# terminal (-serial mon:stdio). Press Ctrl-a c to switch to the monitor and
# type system_powerdown for an ACPI shutdown; Ctrl-a x quits QEMU at once.
#
# Options:
#   --accel auto|kvm|tcg  auto (default) probes KVM with a short boot of the
#                         image and falls back to TCG (see probe_kvm below)
#   --user-data FILE      user data served by the fake IMDS (default: none)
#   --tokens MODE         fake IMDS token mode: optional|required|disabled
#   --memory MIB          guest memory (default 256)
#   --snapshot            discard the guest's disk writes
#   --serial FILE         non-interactive: serial console to FILE, monitor
#                         on the unix socket FILE.monitor; runs until the
#                         guest powers off
#   --imds-log FILE       where fake_imds.py logs requests
#   --probe               only probe: print kvm or tcg and exit
set -euo pipefail

die() { echo "boot.sh: error: $*" >&2; exit 1; }
log() { echo "boot.sh: $*" >&2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

ACCEL=auto MEM=256 SNAPSHOT= SERIAL= USER_DATA= TOKENS=optional IMDS_LOG= PROBE_ONLY=
while [ $# -gt 0 ]; do
	case "$1" in
	--accel) ACCEL=$2; shift 2 ;;
	--user-data) USER_DATA=$(realpath "$2"); shift 2 ;;
	--tokens) TOKENS=$2; shift 2 ;;
	--memory) MEM=$2; shift 2 ;;
	--snapshot) SNAPSHOT=1; shift ;;
	--serial) SERIAL=$(realpath -m "$2"); shift 2 ;;
	--imds-log) IMDS_LOG=$(realpath -m "$2"); shift 2 ;;
	--probe) PROBE_ONLY=1; shift ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-*) die "unknown option $1" ;;
	*) break ;;
	esac
done
[ $# -eq 1 ] || die "usage: boot.sh [options] IMAGE.raw (see --help)"
IMAGE=$(realpath "$1")
[ -f "$IMAGE" ] || die "no image $IMAGE"
case "$TOKENS" in optional|required|disabled) ;; *) die "--tokens: optional, required or disabled" ;; esac

QEMU=${QEMU:-qemu-system-x86_64}
command -v "$QEMU" >/dev/null 2>&1 ||
	die "$QEMU not found: install it with 'apt-get install qemu-system-x86' (Debian/Ubuntu)"
command -v python3 >/dev/null 2>&1 || die "python3 not found (needed by fake_imds.py)"
case "$HERE" in *[\ ,]*) die "the fake IMDS path must not contain spaces or commas: $HERE" ;; esac

# probe_kvm succeeds when KVM can really run this image: /dev/kvm must be
# usable AND a short boot of the image (copy-on-write, no network) must reach
# the "openami-testimage: init started" line within $KVM_PROBE_TIMEOUT
# seconds (default 15). A bare /dev/kvm check is not enough: on some hosts
# KVM starts, then stops the guest with "KVM internal error ... emulation
# failure" (syslinux, in protected mode), which leaves QEMU running with the
# guest paused; that message ends the probe early.
probe_kvm() {
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || { log "KVM: /dev/kvm not usable"; return 1; }
	local dir pid i ok=1 timeout=${KVM_PROBE_TIMEOUT:-15}
	dir=$(mktemp -d)
	"$QEMU" -accel kvm -cpu host -m 128 -display none -monitor none -no-reboot \
		-serial "file:$dir/console" -snapshot \
		-drive "file=$IMAGE,format=raw,if=virtio" -nic none \
		> "$dir/stderr" 2>&1 &
	pid=$!
	disown "$pid"   # no "Aborted" job report if QEMU dies of SIGABRT
	for ((i = 0; i < timeout * 10; i++)); do
		if grep -q 'openami-testimage: init started' "$dir/console" 2>/dev/null; then ok=0; break; fi
		if grep -q 'KVM internal error' "$dir/stderr" || ! kill -0 "$pid" 2>/dev/null; then break; fi
		sleep 0.1
	done
	kill "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if [ $ok -eq 0 ]; then
		log "KVM: probe boot reached init"
	else
		log "KVM: probe boot failed ($(grep -m 1 -E 'error|failure' "$dir/stderr" || echo "no init within ${timeout} s"))"
	fi
	rm -rf "$dir"
	return $ok
}

case "$ACCEL" in
auto) if probe_kvm; then ACCEL=kvm; else ACCEL=tcg; fi ;;
kvm|tcg) ;;
*) die "--accel: auto, kvm or tcg" ;;
esac
ACCEL_ARGS=(-accel tcg)
[ "$ACCEL" = kvm ] && ACCEL_ARGS=(-accel kvm -cpu host)
log "accelerator: $ACCEL"
if [ -n "$PROBE_ONLY" ]; then echo "$ACCEL"; exit 0; fi

export FAKE_IMDS_TOKENS=$TOKENS
export FAKE_IMDS_USER_DATA=${USER_DATA:-}
export FAKE_IMDS_LOG=${IMDS_LOG:-}

ARGS=(
	"${ACCEL_ARGS[@]}" -m "$MEM" -smp 1
	-drive "file=$IMAGE,format=raw,if=virtio,cache=writeback"
	# user-mode network on 169.254.0.0/16; every guest connection to
	# 169.254.169.254:80 runs one fake_imds.py; romfile= drops the iPXE
	# option ROM (no network boot, and a faster BIOS).
	-netdev "user,id=net0,net=169.254.0.0/16,guestfwd=tcp:169.254.169.254:80-cmd:python3 -I $HERE/fake_imds.py"
	-device virtio-net-pci,netdev=net0,romfile=
)
[ -n "$SNAPSHOT" ] && ARGS+=(-snapshot)
if [ -n "$SERIAL" ]; then
	ARGS+=(-display none -serial "file:$SERIAL" -monitor "unix:$SERIAL.monitor,server=on,wait=off")
	log "serial console in $SERIAL; monitor: unix socket $SERIAL.monitor"
else
	# Not -nographic: that also makes SeaBIOS mirror the VGA text to the
	# serial port, so the console shows the boot loader's lines twice.
	ARGS+=(-display none -serial mon:stdio)
	log "Ctrl-a c: monitor (system_powerdown, quit); Ctrl-a x: exit"
fi
log "$QEMU ${ARGS[*]}"
exec "$QEMU" "${ARGS[@]}"
