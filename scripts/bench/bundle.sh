#!/usr/bin/env bash
# scripts/bench/bundle.sh: times `openami bundle image` of a 1 GiB disk
# against the shell pipeline it replaces, `tar -c | gzip | openssl enc
# -aes-128-cbc | split -b 10m`, and `openami bundle unbundle` against
# `cat parts | openssl enc -d | gunzip | tar -x`, with hyperfine, and
# measures each one's peak RSS with /usr/bin/time -v. Not part of the test
# run; results in docs/BENCHMARKS.md ("Bundles (issue 15)").
#
#   scripts/bench/bundle.sh                     # 3 runs each
#   RUNS=5 SIZE_MIB=2048 scripts/bench/bundle.sh
#   OPENAMI_EC2_AMI_TOOLS=DIR scripts/bench/bundle.sh   # and ec2-bundle-image itself
#
# The disk is a quarter random bytes, a quarter text and binaries (what
# gzip compresses), and half zeros, written out (not a hole). Needs
# hyperfine, openssl, GNU tar, gzip, split and /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-3}
SIZE_MIB=${SIZE_MIB:-1024}

work=$(mktemp -d /tmp/obundle-XXXXXX)
trap 'rm -rf "$work"' EXIT
go build -o "$work/openami" ./cmd/openami

cd "$work"
quarter=$((SIZE_MIB / 4))
head -c $((quarter << 20)) /dev/urandom >disk.img
# Compressible: the machine's own programs and texts, over and over.
while [ "$(stat -c %s disk.img)" -lt $((2 * quarter << 20)) ]; do
  cat /usr/bin/* /usr/share/common-licenses/* 2>/dev/null | head -c $((quarter << 20)) >>disk.img || true
done
truncate -s $((2 * quarter << 20)) disk.img
head -c $(((SIZE_MIB - 2 * quarter) << 20)) /dev/zero >>disk.img
ls -l disk.img >&2

openssl req -x509 -newkey rsa:2048 -nodes -keyout user-key.pem -out user-cert.pem -subj /CN=user -days 2 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout ec2-key.pem -out ec2-cert.pem -subj /CN=ec2 -days 2 2>/dev/null
key=$(openssl rand -hex 16)
iv=$(openssl rand -hex 16)

ours="./openami bundle image -i disk.img -c user-cert.pem -k user-key.pem -u 123456789012 --ec2cert ec2-cert.pem -d ours >/dev/null"
shell="tar -c disk.img | gzip | openssl enc -e -aes-128-cbc -K $key -iv $iv | split -b 10m - shell/disk.img.part."
cmds=(-n openami "$ours" -n shell "$shell")
prep='rm -rf ours shell tools && mkdir ours shell tools'
if [ -n "${OPENAMI_EC2_AMI_TOOLS:-}" ]; then
  export EC2_AMITOOL_HOME=$OPENAMI_EC2_AMI_TOOLS
  tools="$OPENAMI_EC2_AMI_TOOLS/bin/ec2-bundle-image -i disk.img -c user-cert.pem -k user-key.pem -u 123456789012 --ec2cert ec2-cert.pem -d tools -r x86_64 --batch >/dev/null"
  cmds+=(-n ec2-bundle-image "$tools")
fi

uptime >&2
hyperfine --runs "$RUNS" --warmup 1 --prepare "$prep" --export-markdown bundle.md "${cmds[@]}" >&2
cat bundle.md

rss() { # NAME DIR COMMAND: peak RSS of the command (its largest process), into a fresh DIR
  rm -rf "$2" && mkdir "$2"
  /usr/bin/time -v bash -o pipefail -c "$3" 2>time.txt >/dev/null
  echo "$1: peak RSS $(sed -n 's/.*Maximum resident set size (kbytes): //p' time.txt) KiB"
}
[ -n "${tools:-}" ] && rss ec2-bundle-image tools "$tools"
rss shell shell "$shell"
rss openami ours "$ours"
echo "bundled sizes: openami $(cat ours/*.part.* | wc -c) B in $(ls ours/*.part.* | wc -l) parts, shell $(cat shell/* | wc -c) B"

# Unbundle: both from openami's bundle.
aeskey=$(grep -o '<user_encrypted_key[^>]*>[0-9a-f]*' ours/disk.img.manifest.xml | sed 's/.*>//' | xxd -r -p | openssl pkeyutl -decrypt -inkey user-key.pem)
aesiv=$(grep -o '<user_encrypted_iv>[0-9a-f]*' ours/disk.img.manifest.xml | sed 's/.*>//' | xxd -r -p | openssl pkeyutl -decrypt -inkey user-key.pem)
mkdir -p unours unshell
un_ours="./openami bundle unbundle -m ours/disk.img.manifest.xml -k user-key.pem -d unours >/dev/null"
un_shell="cat ours/disk.img.part.* | openssl enc -d -aes-128-cbc -K $aeskey -iv $aesiv | gunzip | tar -x -C unshell"
hyperfine --runs "$RUNS" --warmup 1 --prepare 'rm -rf unours/* unshell/*' --export-markdown unbundle.md \
  -n openami-unbundle "$un_ours" -n shell-unbundle "$un_shell" >&2
cat unbundle.md
rss openami-unbundle unours "$un_ours"
rss shell-unbundle unshell "$un_shell"
cmp disk.img unours/disk.img && cmp disk.img unshell/disk.img && echo "both unbundle to the disk"
uptime >&2
