#!/usr/bin/env bash
# Prepares a Debian 12 host for Stratus: installs host packages and starts the
# daemons the agent talks to. Idempotent; run as root. No systemd is assumed.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
  echo "setup-host: must run as root" >&2
  exit 1
fi

PACKAGES=(
  qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients libvirt-dev
  openvswitch-switch dnsmasq-base dnsmasq-utils nftables iptables iproute2 ovmf swtpm swtpm-tools
  genisoimage xorriso busybox-static systemd-boot-efi mtools dosfstools cpio curl libxml2-utils
  syslinux syslinux-common fdisk tmux ethtool debootstrap
  # tests: isolinux builds the bootable ISO of the CD-ROM boot test; chromium (headless, driven by
  # playwright-core) opens the noVNC console page (about 30 s to install from the Debian mirror)
  isolinux chromium
  # routers announce floating IPs by gratuitous ARP
  iputils-arping
  virtinst
  postgresql
  # packages/util/native: lseek(SEEK_DATA/SEEK_HOLE) for sparse image uploads (without it, read whole)
  gcc libc6-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup-host: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # policy-rc.d keeps package scripts from trying to start services without systemd.
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

running() { pgrep -x "$1" >/dev/null 2>&1; }

# Without udev, /dev/kvm keeps root:root 0600. libvirt then finds KVM "not available now" on every define
# and re-probes QEMU's capabilities each time (about 40 s per define). Debian's udev rule gives root:kvm 0660.
if [[ -c /dev/kvm ]]; then
  chgrp kvm /dev/kvm
  chmod 0660 /dev/kvm
fi

mkdir -p /var/run/libvirt /var/run/openvswitch /var/log/openvswitch
running virtlogd || virtlogd -d
running libvirtd || libvirtd -d
for _ in $(seq 1 50); do
  [[ -S /var/run/libvirt/libvirt-sock ]] && break
  sleep 0.2
done

if [[ ! -f /etc/openvswitch/conf.db ]]; then
  mkdir -p /etc/openvswitch
  ovsdb-tool create /etc/openvswitch/conf.db /usr/share/openvswitch/vswitch.ovsschema
fi
if ! running ovsdb-server; then
  ovsdb-server --remote=punix:/var/run/openvswitch/db.sock \
    --remote=db:Open_vSwitch,Open_vSwitch,manager_options \
    --pidfile --detach --log-file
  ovs-vsctl --no-wait init
fi
running ovs-vswitchd || ovs-vswitchd --pidfile --detach --log-file

virsh -c qemu:///system version >/dev/null
echo "setup-host: ready (libvirtd, virtlogd, ovsdb-server, ovs-vswitchd running)"
