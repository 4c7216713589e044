# debtools.sh: what the image build scripts (scripts/testimage/build.sh,
# scripts/cloudimage/build.sh) share, sourced by both: messages, tool
# checks, a cache of Debian packages fetched with `apt-get download` (which
# any user may run), tools unpacked from them when the PATH lacks them, and
# the bytes of an MBR partition entry. The sourcing script sets DEBS (the
# .deb cache) and TOOLS (where packages are unpacked) before calling deb,
# tool or unpack.

die() { echo "build.sh: error: $*" >&2; exit 1; }
log() { echo "build.sh: $*" >&2; }

# need CMD HINT: stops unless CMD is on the PATH.
need() { command -v "$1" >/dev/null 2>&1 || die "missing tool: $1 ($2)"; }

# deb PKG prints the cached .deb of PKG, downloading it first if needed.
deb() {
	local pkg=$1 f
	f=$(find "$DEBS" -maxdepth 1 -name "${pkg}_*.deb" | sort | tail -n 1)
	if [ -z "$f" ]; then
		need apt-get "needed to download $pkg; or put ${pkg}_*.deb into $DEBS"
		log "downloading $pkg"
		(cd "$DEBS" && apt-get download "$pkg" > "$DEBS/apt.log" 2>&1) ||
			die "apt-get download $pkg failed: $(tail -n 3 "$DEBS/apt.log")"
		f=$(find "$DEBS" -maxdepth 1 -name "${pkg}_*.deb" | sort | tail -n 1)
		[ -n "$f" ] || die "apt-get download $pkg left no ${pkg}_*.deb in $DEBS"
	fi
	echo "$f"
}

# unpack PKG: PKG's files under TOOLS, once.
unpack() {
	local pkg=$1
	if [ ! -e "$TOOLS/.$pkg" ]; then
		log "unpacking $pkg into $TOOLS"
		dpkg-deb -x "$(deb "$pkg")" "$TOOLS"
		touch "$TOOLS/.$pkg"
	fi
}

# tool CMD PKG: CMD from the PATH, else from PKG unpacked into the cache.
tool() {
	local cmd=$1 pkg=$2
	command -v "$cmd" >/dev/null 2>&1 && return 0
	unpack "$pkg"
	command -v "$cmd" >/dev/null 2>&1 || die "missing tool: $cmd (not in package $pkg either)"
}

le32() { # prints V as 4 little-endian bytes
	printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $((($1 >> 8) & 255)))\\x$(printf %02x $((($1 >> 16) & 255)))\\x$(printf %02x $((($1 >> 24) & 255)))"
}

part() { # status type start sectors: one MBR partition entry, LBA only
	printf "\\x$(printf %02x "$1")\\xfe\\xff\\xff\\x$(printf %02x "$2")\\xfe\\xff\\xff"
	le32 "$3"
	le32 "$4"
}
