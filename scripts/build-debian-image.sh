#!/usr/bin/env bash
# Builds a real Debian 12 guest for the tests that need one (cloud-init, SSH, block devices):
# build/images/stratus-debian.qcow2 (or $STRATUS_IMAGE_DIR), a link to a cached build.
#
# Debian 12 from Debian's own packages (debootstrap, then apt in the chroot): systemd, cloud-init
# (datasources ConfigDrive, OpenStack), openssh-server (host keys made at first boot), ifupdown with
# isc-dhcp-client (cloud-init's network renderer on Debian), cloud-guest-utils (growpart: the root
# filesystem grows to the disk at boot), dbus (systemd-logind needs the system bus; logind powers the
# guest off on an ACPI power-button press, which is how libvirt's shutdown reaches it). The disk is MBR with two partitions: a FAT boot partition
# (syslinux, the kernel and initramfs; legacy BIOS boot) and the ext4 root filesystem, last, so it can
# grow. Neither needs a loop mount: syslinux installs through mtools, mkfs.ext4 -d fills the root.
# The guest prints `STRATUS-GUEST-READY hostname=... ip=...` on its serial console once cloud-init is
# done, like the busybox test guest.
#
# Slow (minutes: hundreds of MiB from the Debian mirror), so the result is cached outside the clone,
# in $STRATUS_IMAGE_CACHE (default /var/cache/stratus/images), keyed by a hash of its inputs: this
# script and the candidate versions of every package named below.
#
# Usage: scripts/build-debian-image.sh   (as root, after scripts/setup-host.sh; prints the image path)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT_DIR=$(realpath -m "${STRATUS_IMAGE_DIR:-$ROOT/build/images}")
CACHE_DIR=$(realpath -m "${STRATUS_IMAGE_CACHE:-/var/cache/stratus/images}")
IMAGE=$OUT_DIR/stratus-debian.qcow2
SUITE=bookworm
MIRROR=${STRATUS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
ROOT_LABEL=debian-root
CMDLINE="root=LABEL=$ROOT_LABEL ro console=tty0 console=ttyS0,115200n8"
# Installed with apt inside the chroot, which resolves virtual packages (debootstrap's --include does not).
PACKAGES=(
  systemd-sysv linux-image-amd64 initramfs-tools cloud-init openssh-server ifupdown isc-dhcp-client
  cloud-guest-utils e2fsprogs iproute2 sudo netbase python3-cffi-backend udev dbus
)
BOOT_MIB=96

log() { echo "build-debian-image: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

[[ $(id -u) -eq 0 ]] || die "must run as root"
for tool in debootstrap apt-cache chroot mkfs.ext4 mkfs.fat mcopy syslinux sfdisk qemu-img sha256sum flock; do
  command -v "$tool" >/dev/null || die "$tool not found; run scripts/setup-host.sh"
done

inputs_text() {
  echo "suite=$SUITE cmdline=$CMDLINE"
  apt-cache show --no-all-versions "${PACKAGES[@]}" 2>/dev/null | sed -n 's/^\(Package\|Version\): //p' |
    paste -d= - -
  sha256sum "$ROOT/scripts/build-debian-image.sh" | cut -d' ' -f1
}

mkdir -p "$OUT_DIR" "$CACHE_DIR"
exec 9>"$CACHE_DIR/.stratus-debian.lock"
flock 9

INPUTS_NOW=$(inputs_text)
HASH=$(sha256sum <<<"$INPUTS_NOW" | cut -c1-16)
CACHED=$CACHE_DIR/stratus-debian-$HASH.qcow2
if [[ ! -f $CACHED ]]; then
  WORK=$(mktemp -d "$CACHE_DIR/.build.XXXXXX")
  # The chroot has /proc and /sys mounted while packages install; unmount before removing anything.
  cleanup() {
    for m in proc sys dev/pts; do mountpoint -q "$WORK/root/$m" && umount -l "$WORK/root/$m"; done
    rm -rf "$WORK"
  }
  trap cleanup EXIT
  R=$WORK/root
  log "debootstrap $SUITE (minbase) from $MIRROR"
  debootstrap --variant=minbase "$SUITE" "$R" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
    die "debootstrap failed; see the end of its log: $(tail -5 "$WORK/debootstrap.log")"
  mount -t proc proc "$R/proc"
  mount -t sysfs sys "$R/sys"
  mount -t devpts devpts "$R/dev/pts"
  printf 'deb %s %s main\ndeb %s %s-updates main\ndeb http://deb.debian.org/debian-security %s-security main\n' \
    "$MIRROR" "$SUITE" "$MIRROR" "$SUITE" "$SUITE" >"$R/etc/apt/sources.list"
  # No daemons start inside the chroot.
  printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
  chmod 755 "$R/usr/sbin/policy-rc.d"
  log "installing ${PACKAGES[*]}"
  chroot "$R" /usr/bin/env DEBIAN_FRONTEND=noninteractive bash -c \
    "apt-get update -q && apt-get install -y -q --no-install-recommends ${PACKAGES[*]} && apt-get clean" \
    >"$WORK/apt.log" 2>&1 || die "apt-get in the chroot failed: $(tail -5 "$WORK/apt.log")"
  rm -f "$R/usr/sbin/policy-rc.d"

  # --- guest configuration -----------------------------------------------------------------------
  echo "LABEL=$ROOT_LABEL / ext4 defaults,errors=remount-ro 0 1" >"$R/etc/fstab"
  echo debian >"$R/etc/hostname"
  printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$R/etc/hosts"
  cat >"$R/etc/cloud/cloud.cfg.d/90-stratus.cfg" <<'EOF'
# Stratus serves a config-2 config drive (and later a metadata service), as Nova does.
datasource_list: [ConfigDrive, OpenStack, None]
EOF
  printf 'auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n' >"$R/etc/network/interfaces"
  # First boot makes the SSH host keys (cloud-init) and the machine id (systemd).
  rm -f "$R"/etc/ssh/ssh_host_*
  : >"$R/etc/machine-id"
  rm -f "$R/var/lib/dbus/machine-id"
  cat >"$R/usr/local/sbin/stratus-ready" <<'EOF'
#!/bin/sh
# Prints the ready line the Stratus tests wait for, on the serial console.
ip=$(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | paste -sd, -)
echo "STRATUS-GUEST-READY hostname=$(hostname) ip=$ip distro=debian" >/dev/ttyS0
EOF
  chmod 755 "$R/usr/local/sbin/stratus-ready"
  cat >"$R/etc/systemd/system/stratus-ready.service" <<'EOF'
[Unit]
Description=Print the Stratus ready line on the serial console
# cloud-final runs after multi-user.target, so this hangs off cloud-final itself (WantedBy
# multi-user.target would be an ordering cycle that systemd breaks by dropping this unit).
After=cloud-final.service ssh.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/stratus-ready

[Install]
WantedBy=cloud-final.service
EOF
  mkdir -p "$R/etc/systemd/system/cloud-final.service.wants"
  ln -sf /etc/systemd/system/stratus-ready.service \
    "$R/etc/systemd/system/cloud-final.service.wants/stratus-ready.service"
  for m in dev/pts sys proc; do umount -l "$R/$m"; done

  # --- disk --------------------------------------------------------------------------------------
  KERNEL=$(ls "$R"/boot/vmlinuz-* | sort -V | tail -1)
  INITRD=$(ls "$R"/boot/initrd.img-* | sort -V | tail -1)
  [[ -f $KERNEL && -f $INITRD ]] || die "no kernel or initramfs in the chroot"
  export MTOOLS_SKIP_CHECK=1
  PART_START=2048
  FAT=$WORK/boot.fat
  mkfs.fat -C -F 32 -n STRATUSBOOT -h "$PART_START" "$FAT" $((BOOT_MIB * 1024)) >/dev/null
  syslinux --install "$FAT"
  printf 'DEFAULT debian\nTIMEOUT 0\nLABEL debian\n  KERNEL /vmlinuz\n  APPEND initrd=/initrd.img %s\n' \
    "$CMDLINE" >"$WORK/syslinux.cfg"
  mcopy -i "$FAT" "$KERNEL" ::/vmlinuz
  mcopy -i "$FAT" "$INITRD" ::/initrd.img
  mcopy -i "$FAT" "$WORK/syslinux.cfg" ::/syslinux.cfg
  # The root filesystem: what the chroot holds plus room to boot; growpart grows it to the disk.
  ROOT_MIB=$(($(du -sm --exclude=./proc --exclude=./sys "$R" | cut -f1) + 384))
  ROOTFS=$WORK/root.ext4
  mkfs.ext4 -q -L "$ROOT_LABEL" -d "$R" "$ROOTFS" "${ROOT_MIB}M"
  RAW=$WORK/disk.raw
  ROOT_START=$((PART_START + BOOT_MIB * 2048))
  truncate -s $(((ROOT_START + ROOT_MIB * 2048) * 512)) "$RAW"
  printf 'label: dos\nstart=%d, size=%d, type=c, bootable\nstart=%d, type=83\n' \
    "$PART_START" $((BOOT_MIB * 2048)) "$ROOT_START" | sfdisk --quiet --no-reread --no-tell-kernel "$RAW" >/dev/null
  dd if=/usr/lib/syslinux/mbr/mbr.bin of="$RAW" bs=440 count=1 conv=notrunc status=none
  dd if="$FAT" of="$RAW" bs=512 seek="$PART_START" conv=notrunc status=none
  dd if="$ROOTFS" of="$RAW" bs=1M seek=$((ROOT_START / 2048)) conv=notrunc,sparse status=none
  qemu-img convert -f raw -O qcow2 "$RAW" "$WORK/image.qcow2"
  printf '%s\n' "$INPUTS_NOW" >"$CACHED.inputs"
  mv -f "$WORK/image.qcow2" "$CACHED"
  # Older builds are of no further use (agents copy images into their own cache when they import them).
  find "$CACHE_DIR" -maxdepth 1 -name 'stratus-debian-*.qcow2*' ! -name "stratus-debian-$HASH.qcow2*" -delete
  log "built $CACHED: $((($(stat -c %s "$CACHED") + (1 << 20) - 1) >> 20)) MiB, $(basename "$KERNEL")"
fi
ln -sfn "$CACHED" "$IMAGE.tmp"
mv -Tf "$IMAGE.tmp" "$IMAGE"
echo "$IMAGE"
