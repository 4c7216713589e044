#!/bin/sh
# customize.sh ROOT OVERLAY: mmdebstrap's customize hook for build.sh. Runs
# under fakechroot + fakeroot, so files it creates are owned by root in the
# image. Puts the openami configuration into the tree and makes the
# initramfs again with it.
set -eu
ROOT=$1
OVERLAY=$2

# Configuration files (see scripts/cloudimage/rootfs/): cloud-init's
# datasource and default user, fstab, hostname, DHCP, sshd host keys.
cp -R "$OVERLAY/." "$ROOT/"

# No SSH host keys in the image: cloud-init makes them on the first boot
# (ssh_deletekeys, ssh_genkeytypes), and ssh.service would too.
rm -f "$ROOT"/etc/ssh/ssh_host_*_key "$ROOT"/etc/ssh/ssh_host_*_key.pub

# /etc/machine-id: mmdebstrap leaves it empty, so each instance makes its
# own on its first boot.

# DHCP by systemd-networkd, names by systemd-resolved.
chroot "$ROOT" systemctl enable systemd-networkd.service systemd-resolved.service

# The serial console gets a login prompt by systemd's getty generator
# (console=ttyS0 on the kernel command line); no unit to enable.

# The initramfs again, with conf.d/openami (MODULES=most, gzip).
chroot "$ROOT" update-initramfs -u -k all
