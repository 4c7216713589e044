#!/usr/bin/env bash
# build.sh OUT.raw: builds a Debian 12 (bookworm) cloud image for openami: a
# 2 GiB sparse BIOS-bootable raw disk (syslinux on a FAT boot partition,
# ext4 root) with the cloud kernel, systemd, cloud-init (Ec2 datasource at
# 169.254.169.254), openssh-server and sudo. No step needs root: the root
# tree is made by mmdebstrap in fakechroot mode under fakeroot, and the file
# systems are written into files (mkfs.ext4 -d, mtools). See docs/CLOUDIMAGE.md.
#
# Packages and the archive's package lists are kept in a cache directory
# ($OPENAMI_CLOUDIMAGE_CACHE, default ${XDG_CACHE_HOME:-~/.cache}/openami/cloudimage),
# so a second build needs no network and installs the very same versions.
# Delete the cache to pick up newer packages.
#
# Environment:
#   OPENAMI_CLOUDIMAGE_CACHE   cache directory (see above)
#   OPENAMI_CLOUDIMAGE_MIRROR  Debian mirror (default http://deb.debian.org/debian)
#   OPENAMI_CLOUDIMAGE_APPEND  extra kernel command-line words
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/debtools.sh
. "$HERE/../lib/debtools.sh"

[ $# -eq 1 ] || die "usage: build.sh OUT.raw"
OUT=$1
case "$OUT" in /*) ;; *) OUT=$PWD/$OUT ;; esac

CACHE=${OPENAMI_CLOUDIMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openami/cloudimage}
MIRROR=${OPENAMI_CLOUDIMAGE_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
LABEL=cloudimg-rootfs
# What goes into the image besides the minbase variant (Essential: yes and
# Priority: required packages, apt). Recommends are not installed, so what
# is wanted from them is named here (cloud-guest-utils: growpart).
PACKAGES=linux-image-cloud-amd64,initramfs-tools,systemd-sysv,udev,systemd-resolved,cloud-init,cloud-guest-utils,openssh-server,sudo,curl

# Layout, in 512-byte sectors: 2 GiB, partition 1 FAT16 (boot loader, kernel,
# initramfs) from 1 MiB to 128 MiB, partition 2 ext4 (root) to the end.
BOOT_START=2048
BOOT_SECTORS=$((127 * 2048))
ROOT_START=$((128 * 2048))
DISK_SECTORS=$((2048 * 2048))
ROOT_SECTORS=$((DISK_SECTORS - ROOT_START))

need mmdebstrap "apt-get install mmdebstrap"
need fakechroot "apt-get install fakechroot"
need fakeroot "apt-get install fakeroot"
need mkfs.ext4 "apt-get install e2fsprogs (1.43 or newer, for -d)"
for t in dpkg-deb tar dd truncate sort find sed sha256sum; do
	need "$t" "install it with your package manager"
done

DEBS=$CACHE/debs        # tools for the disk: syslinux, mtools, dosfstools
TOOLS=$CACHE/tools
ARCHIVES=$CACHE/archives   # every .deb the root tree was made from
LISTS=$CACHE/lists         # the package lists they were resolved with
mkdir -p "$DEBS" "$TOOLS" "$ARCHIVES"

export PATH="$PATH:$TOOLS/usr/bin:$TOOLS/usr/sbin:$TOOLS/bin:$TOOLS/sbin"
tool mcopy mtools
tool mkfs.fat dosfstools
# syslinux, its mbr.bin and ldlinux.c32 must match: always from the packages.
unpack syslinux
unpack syslinux-common
SYSLINUX=$TOOLS/usr/bin/syslinux
MBR_BIN=$TOOLS/usr/lib/syslinux/mbr/mbr.bin
LDLINUX_C32=$TOOLS/usr/lib/syslinux/modules/bios/ldlinux.c32
for f in "$SYSLINUX" "$MBR_BIN" "$LDLINUX_C32"; do
	[ -e "$f" ] || die "missing $f after unpacking syslinux"
done
export MTOOLS_SKIP_CHECK=1

WORK=$(mktemp -d "${TMPDIR:-/tmp}/openami-cloudimage.XXXXXX")
trap 'chmod -R u+rwX "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
ROOT=$WORK/root
STATE=$WORK/fakeroot.state   # ownership and modes of the tree, as fakeroot saw them

# ---- root tree ----------------------------------------------------------------
# mmdebstrap runs inside "fakechroot fakeroot -s STATE" (fakechroot mode does
# not re-exec itself when it is already there), so the ownership the
# packages ask for is kept in STATE; mkfs.ext4 reads the tree through
# "fakeroot -i STATE" below and writes those owners and device nodes.
#
# The cache: the first build downloads, then copies /var/cache/apt/archives
# and /var/lib/apt/lists out of the tree (sync-out, before mmdebstrap's
# cleanup removes them). A later build copies both back in (sync-in) and
# skips "apt-get update": apt then resolves the same versions and finds every
# .deb already downloaded, so it needs no network.
HOOKS=(
	--setup-hook='mkdir -p "$1/var/cache/apt/archives" "$1/var/lib/apt/lists"'
	--setup-hook="sync-in $ARCHIVES /var/cache/apt/archives/"
	--customize-hook="sync-out /var/cache/apt/archives $ARCHIVES"
	--customize-hook="$HERE/customize.sh \"\$1\" \"$HERE/rootfs\""
)
if [ -e "$LISTS/.complete" ]; then
	log "root tree from the cache $CACHE (offline)"
	HOOKS=(--skip=update --setup-hook="sync-in $LISTS /var/lib/apt/lists/" "${HOOKS[@]}")
else
	log "root tree from $MIRROR (downloads about 100 MB into $CACHE)"
	rm -rf "$LISTS"
	mkdir -p "$LISTS.tmp"
	HOOKS+=(--customize-hook="sync-out /var/lib/apt/lists $LISTS.tmp")
fi
T0=$SECONDS
fakechroot fakeroot -s "$STATE" mmdebstrap --mode=fakechroot --variant=minbase \
	--include="$PACKAGES" --skip=essential/unlink \
	--aptopt='Acquire::Languages "none"' \
	"${HOOKS[@]}" "$SUITE" "$ROOT" "$MIRROR" > "$WORK/mmdebstrap.log" 2>&1 ||
	die "mmdebstrap failed: $(tail -n 15 "$WORK/mmdebstrap.log")"
if [ -d "$LISTS.tmp" ]; then
	mv "$LISTS.tmp" "$LISTS"
	touch "$LISTS/.complete"
fi
log "root tree in $((SECONDS - T0)) s: $(du -sh "$ROOT" | cut -f 1)"

# fakechroot makes every absolute symlink created in the chroot point into
# the real directory (/sbin/init -> $ROOT/lib/systemd/systemd, the ELF
# interpreter /lib64/ld-linux-x86-64.so.2, ...): take the prefix off again.
# Under fakeroot, so the new links are root's in STATE as well.
fakeroot -i "$STATE" -s "$STATE" sh -c '
	root=$1 n=0
	find "$root" -type l -lname "$root/*" > "$root.links"
	while IFS= read -r l; do
		t=$(readlink "$l")
		ln -sfn "${t#"$root"}" "$l"
		n=$((n + 1))
	done < "$root.links"
	rm -f "$root.links"
	echo "build.sh: $n absolute symlinks pointed back into the image" >&2
	! find "$root" -type l -lname "$root/*" | grep -q .
' sh "$ROOT" || die "symlinks into $ROOT are left"

KVER=$(cd "$ROOT/boot" && ls vmlinuz-* | sed 's/^vmlinuz-//' | sort -V | tail -n 1)
[ -n "$KVER" ] && [ -e "$ROOT/boot/initrd.img-$KVER" ] || die "no kernel and initramfs in $ROOT/boot"

# ---- disk ---------------------------------------------------------------------
DISK=$WORK/disk.raw
truncate -s $((DISK_SECTORS * 512)) "$DISK"

# Partition 2: ext4 written straight into the disk file at its offset, filled
# from the tree (-d) with the owners fakeroot recorded. No mount.
T0=$SECONDS
fakeroot -i "$STATE" mkfs.ext4 -q -F -L "$LABEL" -d "$ROOT" \
	-E offset=$((ROOT_START * 512)) "$DISK" $((ROOT_SECTORS / 2))k ||
	die "mkfs.ext4 failed"
log "ext4 root in $((SECONDS - T0)) s"

# Partition 1: FAT16 with syslinux (the mtools installer works on a file).
APPEND="root=LABEL=$LABEL ro console=tty0 console=ttyS0,115200 ${OPENAMI_CLOUDIMAGE_APPEND:-}"
sed "s|@APPEND@|$APPEND|" "$HERE/syslinux.cfg" > "$WORK/syslinux.cfg"
cp "$ROOT/boot/vmlinuz-$KVER" "$WORK/vmlinuz"
cp "$ROOT/boot/initrd.img-$KVER" "$WORK/initrd.img"
cp "$LDLINUX_C32" "$WORK/ldlinux.c32"
BOOT=$WORK/boot.fat
truncate -s $((BOOT_SECTORS * 512)) "$BOOT"
mkfs.fat -F 16 -n CIBOOT -h "$BOOT_START" "$BOOT" >/dev/null
export TMPDIR=$WORK   # syslinux writes its mtools config there
mcopy -m -i "$BOOT" "$WORK/syslinux.cfg" "$WORK/vmlinuz" "$WORK/initrd.img" "$WORK/ldlinux.c32" ::/
"$SYSLINUX" --install "$BOOT"
dd if="$BOOT" of="$DISK" bs=512 seek="$BOOT_START" conv=notrunc,sparse status=none

MBRSTUB=fa31c08ed88ec08ed0bc007cfbfc52be007cbf0005b90001f3a5ea1f050000be7105ac84c0741588c3bafd03b9ffffeca820e1fbbaf80388d8eeebe65a52be6105b442cd137311b80102bb007cb902005a5230f6cd1372065aea007c0000f4ebfd10000100007c00000100000000000000
{
	printf "$(echo "$MBRSTUB" | sed 's/../\\x&/g')"
	printf '\r\nopenami-cloudimage: booting\r\n\0'
} > "$WORK/mbrstub.bin"
[ "$(wc -c < "$WORK/mbrstub.bin")" -le 440 ] || die "mbrstub too big"
dd if="$WORK/mbrstub.bin" of="$DISK" bs=440 count=1 conv=notrunc status=none
dd if="$MBR_BIN" of="$DISK" bs=1 seek=512 count=440 conv=notrunc status=none
{
	le32 $((0x494d414f))   # disk signature "OAMI"
	printf '\0\0'
	part 0x80 0x0e "$BOOT_START" "$BOOT_SECTORS"   # active, FAT16 LBA
	part 0x00 0x83 "$ROOT_START" "$ROOT_SECTORS"   # Linux
	head -c 32 /dev/zero
	printf '\x55\xaa'
} > "$WORK/table"
[ "$(wc -c < "$WORK/table")" -eq 72 ] || die "bad partition table size"
dd if="$WORK/table" of="$DISK" bs=1 seek=440 conv=notrunc status=none
dd if="$WORK/table" of="$DISK" bs=1 seek=952 conv=notrunc status=none

# The manifest of what is in the image goes beside it.
fakechroot chroot "$ROOT" dpkg-query -W -f '${Package} ${Version}\n' > "${OUT%.raw}.packages" 2>/dev/null ||
	log "warning: no package manifest"
mv "$DISK" "$OUT"
log "kernel $KVER, initramfs $(wc -c < "$WORK/initrd.img") bytes, $(wc -l < "${OUT%.raw}.packages" 2>/dev/null || echo '?') packages"
log "wrote $OUT ($((DISK_SECTORS / 2048)) MiB, $(du -m "$OUT" | cut -f 1) MiB allocated)"
