#!/usr/bin/env bash
# build.sh OUT.raw: builds the openami test image, a small BIOS-bootable raw
# disk (Debian kernel + busybox initramfs, syslinux on FAT, a FAT data
# partition), from Debian packages and without root. See docs/TESTIMAGE.md.
#
# Packages are fetched with `apt-get download` into a cache directory
# ($OPENAMI_TESTIMAGE_CACHE, default ${XDG_CACHE_HOME:-~/.cache}/openami/testimage),
# so a second build needs no network. Delete the cache to pick up newer
# packages. Tools that are not on the PATH (mtools, mkfs.fat, syslinux, cpio)
# are taken from their downloaded packages, unpacked into the cache.
#
# Environment:
#   OPENAMI_TESTIMAGE_CACHE   cache directory (see above)
#   OPENAMI_TESTIMAGE_APPEND  extra kernel command-line words
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/debtools.sh
. "$HERE/../lib/debtools.sh"

[ $# -eq 1 ] || die "usage: build.sh OUT.raw"
OUT=$1
case "$OUT" in /*) ;; *) OUT=$PWD/$OUT ;; esac

CACHE=${OPENAMI_TESTIMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openami/testimage}
DEBS=$CACHE/debs
TOOLS=$CACHE/tools

# Layout of the disk, in 512-byte sectors. The image is 48 MiB; everything
# after the data partition may be zeros of any length (a 4 GiB volume works).
BOOT_START=2048          # 1 MiB: the usual alignment gap after the MBR
BOOT_SECTORS=$((31 * 2048))   # 31 MiB FAT16: syslinux, kernel, initramfs
DATA_START=$((32 * 2048))
DATA_SECTORS=$((16 * 2048))   # 16 MiB FAT16: the writable /data
DISK_SECTORS=$((DATA_START + DATA_SECTORS))

# Fixed timestamps and ids make two builds from the same packages identical.
EPOCH=1704067200         # 2024-01-01T00:00:00Z
export SOURCE_DATE_EPOCH=$EPOCH

# Kernel modules the guest loads (dependencies are added automatically):
# virtio disk and network, FAT for /data, evdev + button for the ACPI power
# button (busybox acpid reads it from /dev/input).
MODULES="virtio_pci virtio_blk virtio_net vfat nls_cp437 nls_ascii nls_utf8 evdev button"

for t in dpkg-deb tar gzip dd truncate sort find sed awk od cmp sha256sum; do
	need "$t" "install it with your package manager"
done

mkdir -p "$DEBS" "$TOOLS"


# The kernel: the package linux-image-amd64 points at (resolved once, then
# cached). OPENAMI_TESTIMAGE_KERNEL_PKG may name another one.
kernel_pkg() {
	local f
	if [ -n "${OPENAMI_TESTIMAGE_KERNEL_PKG:-}" ]; then
		echo "$OPENAMI_TESTIMAGE_KERNEL_PKG"
		return
	fi
	f=$(find "$DEBS" -maxdepth 1 -name 'linux-image-[0-9]*-amd64_*.deb' | sort | tail -n 1)
	if [ -n "$f" ]; then
		basename "$f" | sed 's/_.*//'
		return
	fi
	need apt-cache "needed to resolve linux-image-amd64"
	f=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ && !f { print $2; f = 1 }')
	[ -n "$f" ] || die "apt-cache depends linux-image-amd64 names no kernel (run apt-get update?)"
	echo "$f"
}

export PATH="$PATH:$TOOLS/usr/bin:$TOOLS/usr/sbin:$TOOLS/bin:$TOOLS/sbin"
tool mcopy mtools
tool mattrib mtools
tool mkfs.fat dosfstools
tool cpio cpio
# syslinux and its MBR and ldlinux.c32 must come from the same release, so
# both are always taken from the downloaded packages.
unpack syslinux
unpack syslinux-common
SYSLINUX=$TOOLS/usr/bin/syslinux
MBR_BIN=$TOOLS/usr/lib/syslinux/mbr/mbr.bin
LDLINUX_C32=$TOOLS/usr/lib/syslinux/modules/bios/ldlinux.c32
for f in "$SYSLINUX" "$MBR_BIN" "$LDLINUX_C32"; do
	[ -e "$f" ] || die "missing $f after unpacking syslinux"
done
export MTOOLS_SKIP_CHECK=1

KPKG=$(kernel_pkg)
KDEB=$(deb "$KPKG")
BBDEB=$(deb busybox-static)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/openami-testimage.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export TMPDIR=$WORK   # syslinux writes its mtools config there

# ---- kernel and modules -----------------------------------------------------
log "kernel from $(basename "$KDEB")"
KDIR=$CACHE/kernel/$(basename "$KDEB" .deb)
if [ ! -e "$KDIR/.index" ]; then
	mkdir -p "$KDIR"
	dpkg-deb --fsys-tarfile "$KDEB" | tar -t > "$KDIR/index.tmp"
	mv "$KDIR/index.tmp" "$KDIR/.index"
fi
VMLINUZ_PATH=$(sed -n '/^\.\/boot\/vmlinuz-/{p;q;}' "$KDIR/.index")
[ -n "$VMLINUZ_PATH" ] || die "no /boot/vmlinuz-* in $KDEB"
KVER=${VMLINUZ_PATH#./boot/vmlinuz-}

# modpath NAME prints the path inside the package of module NAME (dashes and
# underscores are the same in module names), or nothing if it is built in.
modpath() {
	local n=${1//-/_}
	awk -v n="$n" '/\.ko$/ { b = $0; sub(/.*\//, "", b); sub(/\.ko$/, "", b); gsub(/-/, "_", b); if (b == n) { print; exit } }' "$KDIR/.index"
}

# extract PATH...: unpacks those paths of the kernel package once.
extract() {
	local missing=() p
	for p in "$@"; do [ -e "$KDIR/$p" ] || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	dpkg-deb --fsys-tarfile "$KDEB" | tar -x -C "$KDIR" "${missing[@]}"
}
extract "$VMLINUZ_PATH"

# Resolve module dependencies from each module's "depends=" field, one
# package pass per level of the dependency tree, then order the modules so
# every one comes after what it depends on.
declare -A MOD_PATH=() MOD_DEPS=() MOD_DONE=()
pending=($MODULES)
while [ ${#pending[@]} -gt 0 ]; do
	fresh=() paths=()
	for n in "${pending[@]}"; do
		n=${n//-/_}
		[ -n "${MOD_PATH[$n]+set}" ] && continue
		p=$(modpath "$n")
		MOD_PATH[$n]=$p
		if [ -z "$p" ]; then
			log "module $n: not a module of $KPKG (assumed built in)"
			continue
		fi
		fresh+=("$n")
		paths+=("$p")
	done
	[ ${#paths[@]} -eq 0 ] || extract "${paths[@]}"
	pending=()
	for n in "${fresh[@]}"; do
		MOD_DEPS[$n]=$(tr '\0' '\n' < "$KDIR/${MOD_PATH[$n]}" | sed -n 's/^depends=//p' | tr ',' ' ')
		pending+=(${MOD_DEPS[$n]})
	done
done
ORDER=()
visit() {
	local n=$1 d
	[ -n "${MOD_DONE[$n]:-}" ] && return 0
	MOD_DONE[$n]=1
	for d in ${MOD_DEPS[$n]:-}; do visit "${d//-/_}"; done
	[ -z "${MOD_PATH[$n]}" ] || ORDER+=("$n")
}
for m in $MODULES; do
	[ -n "${MOD_PATH[${m//-/_}]}" ] || die "kernel $KVER has no module $m"
	visit "${m//-/_}"
done
log "modules: ${ORDER[*]}"

# ---- initramfs --------------------------------------------------------------
ROOT=$WORK/root
mkdir -p "$ROOT"/{bin,dev,proc,sys,run,tmp,data,root,etc,lib/modules,var}
ln -s bin "$ROOT/sbin"
mkdir -p "$ROOT/usr"
ln -s ../bin "$ROOT/usr/bin"
ln -s ../bin "$ROOT/usr/sbin"
ln -s ../run "$ROOT/var/run"
ln -s ../tmp "$ROOT/var/log"

dpkg-deb --fsys-tarfile "$BBDEB" | tar -x -C "$WORK" ./bin/busybox
BB=$WORK/bin/busybox
[ -x "$BB" ] || die "no /bin/busybox in $BBDEB"
cp "$BB" "$ROOT/bin/busybox"
for a in $("$BB" --list); do
	[ "$a" = busybox ] || ln -s busybox "$ROOT/bin/$a"
done
ln -s bin/busybox "$ROOT/init"   # PID 1 is busybox init, see etc/inittab

cp -R "$HERE/guest/etc/." "$ROOT/etc/"
ln -s ../run/resolv.conf "$ROOT/etc/resolv.conf"
: > "$ROOT/etc/modules"
for n in "${ORDER[@]}"; do
	cp "$KDIR/${MOD_PATH[$n]}" "$ROOT/lib/modules/$n.ko"
	echo "$n" >> "$ROOT/etc/modules"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$ROOT/etc/passwd"
echo 'root:x:0:' > "$ROOT/etc/group"
BBVER=$("$BB" --help 2>&1 | sed -n '1s/ multi-call.*//p')
{
	echo "kernel $KVER ($(basename "$KDEB"))"
	echo "busybox $BBVER ($(basename "$BBDEB"))"
} > "$ROOT/etc/openami-testimage"

# gen_dev prints a newc cpio archive holding /dev/console: device nodes
# cannot be made without root, but an archive entry for one can, and the
# kernel unpacks concatenated archives in order.
newc() { # name mode nlink rdevmajor rdevminor
	local name=$1 ino=$(( 0x7000 + ${#1} )) size=$(( ${#1} + 1 )) pad
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
		"$ino" "$2" 0 0 "$3" "$EPOCH" 0 0 0 "$4" "$5" "$size" 0
	printf '%s\0' "$name"
	pad=$(( (4 - (110 + size) % 4) % 4 ))
	[ $pad -eq 0 ] || head -c "$pad" /dev/zero
}
gen_dev() {
	newc dev $((0040755)) 2 0 0
	newc dev/console $((0020600)) 1 5 1
	newc TRAILER!!! 0 1 0 0
}

find "$ROOT" -exec touch -h -d "@$EPOCH" {} +
(
	cd "$ROOT"
	find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet
	gen_dev
) | gzip -9 -n > "$WORK/initrd.gz"

# ---- boot partition ---------------------------------------------------------
APPEND="console=ttyS0,115200 ${OPENAMI_TESTIMAGE_APPEND:-}"
sed "s|@APPEND@|$APPEND|" "$HERE/guest/syslinux.cfg" > "$WORK/syslinux.cfg"
cp "$KDIR/$VMLINUZ_PATH" "$WORK/vmlinuz"
cp "$LDLINUX_C32" "$WORK/ldlinux.c32"
touch -d "@$EPOCH" "$WORK/syslinux.cfg" "$WORK/vmlinuz" "$WORK/initrd.gz" "$WORK/ldlinux.c32"

BOOT=$WORK/boot.fat
truncate -s $((BOOT_SECTORS * 512)) "$BOOT"
mkfs.fat -F 16 -n OAMIBOOT -h "$BOOT_START" --invariant "$BOOT" >/dev/null
mcopy -m -i "$BOOT" "$WORK/syslinux.cfg" "$WORK/vmlinuz" "$WORK/initrd.gz" "$WORK/ldlinux.c32" ::/
# The mtools-based installer: writes the boot sector and ldlinux.sys through
# mtools, so it works on a plain file.
"$SYSLINUX" --install "$BOOT"

DATA=$WORK/data.fat
truncate -s $((DATA_SECTORS * 512)) "$DATA"
mkfs.fat -F 16 -n OAMIDATA -h "$DATA_START" --invariant "$DATA" >/dev/null

# LBA 0 holds mbrstub.S (assembled below): it prints the first console
# marker and chain-loads LBA 1, which holds syslinux's mbr.bin. Both sectors
# carry the same partition table.
MBRSTUB=fa31c08ed88ec08ed0bc007cfbfc52be007cbf0005b90001f3a5ea1f050000be7105ac84c0741588c3bafd03b9ffffeca820e1fbbaf80388d8eeebe65a52be6105b442cd137311b80102bb007cb902005a5230f6cd1372065aea007c0000f4ebfd10000100007c000001000000000000000d0a6f70656e616d692d74657374696d6167653a20626f6f74696e670d0a00
printf "$(echo "$MBRSTUB" | sed 's/../\\x&/g')" > "$WORK/mbrstub.bin"
[ "$(wc -c < "$WORK/mbrstub.bin")" -le 440 ] || die "mbrstub too big"
DISK=$WORK/disk.raw
truncate -s $((DISK_SECTORS * 512)) "$DISK"
dd if="$WORK/mbrstub.bin" of="$DISK" bs=440 count=1 conv=notrunc status=none
dd if="$MBR_BIN" of="$DISK" bs=1 seek=512 count=440 conv=notrunc status=none
{
	le32 $((0x494d414f))   # disk signature "OAMI"
	printf '\0\0'
	part 0x80 0x0e "$BOOT_START" "$BOOT_SECTORS"   # active, FAT16 LBA
	part 0x00 0x0e "$DATA_START" "$DATA_SECTORS"
	head -c 32 /dev/zero
	printf '\x55\xaa'
} > "$WORK/table"
[ "$(wc -c < "$WORK/table")" -eq 72 ] || die "bad partition table size"
dd if="$WORK/table" of="$DISK" bs=1 seek=440 conv=notrunc status=none
dd if="$WORK/table" of="$DISK" bs=1 seek=952 conv=notrunc status=none
dd if="$BOOT" of="$DISK" bs=512 seek="$BOOT_START" conv=notrunc,sparse status=none
dd if="$DATA" of="$DISK" bs=512 seek="$DATA_START" conv=notrunc,sparse status=none

# The kernel and initramfs also go beside the image, for paravirtual
# boots (qemu -kernel/-initrd): OUT without .raw, plus .vmlinuz and .initrd.gz.
cp "$WORK/vmlinuz" "${OUT%.raw}.vmlinuz"
cp "$WORK/initrd.gz" "${OUT%.raw}.initrd.gz"
mv "$DISK" "$OUT"
log "kernel $KVER, initramfs $(wc -c < "$WORK/initrd.gz") bytes, $BBVER"
log "wrote $OUT ($((DISK_SECTORS / 2048)) MiB) sha256 $(sha256sum "$OUT" | cut -d ' ' -f 1)"
