#!/usr/bin/env bash
# Builds the Stratus test guest image: build/images/stratus-guest.qcow2 (or $STRATUS_IMAGE_DIR).
#
# One small hybrid disk (MBR, one FAT partition) that boots with
#   - legacy BIOS: syslinux MBR -> syslinux -> /vmlinuz + /initrd.img
#   - UEFI:        \EFI\BOOT\BOOTX64.EFI = shim (Microsoft-signed) -> GRUB (Debian-signed) ->
#                  the Debian-signed /vmlinuz, whose EFI stub loads /initrd.img. Every stage is
#                  signed, so this also boots with Secure Boot enforced (OVMF_CODE_4M.ms.fd +
#                  OVMF_VARS_4M.ms.fd); the initramfs is not signature-checked by design.
# The whole guest runs from an initramfs holding busybox and a few kernel modules; its behaviour
# (config drive, DHCP, HTTP, ready line) lives in scripts/guest/init.
#
# Only Debian packages are used, so the build works on hosts that reach nothing but the Debian mirror
# and the npm registry. Kernel, shim and GRUB packages are downloaded and unpacked, never installed.
# Idempotent: a hash of all inputs is stored next to the image and an unchanged build is skipped.
#
# Usage: scripts/build-guest-image.sh   (as root, after scripts/setup-host.sh; prints the image path)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GUEST_SRC=$ROOT/scripts/guest
OUT_DIR=$(realpath -m "${STRATUS_IMAGE_DIR:-$ROOT/build/images}")
IMAGE=$OUT_DIR/stratus-guest.qcow2
INPUTS=$IMAGE.inputs

# The serial console must be the last console= so /dev/console (and the ready line) is ttyS0.
# no_timer_check: skip the kernel's IO-APIC timer check, which under TCG on a host loaded far beyond its
# cores was seen to panic the guest ("IO-APIC + timer doesn't work!"); virtual machine images of
# distributions boot with it for that reason.
CMDLINE="console=tty0 console=ttyS0,115200n8 quiet no_timer_check"

# busybox insmod does no dependency resolution, so the build writes a load order: dependencies
# found with modinfo go ahead of the module needing them. This list only names what the guest wants.
MODULES=(
  # virtio disk and NIC (Debian builds virtio as modules)
  virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
  failover net_failover virtio_net virtio_blk virtio_scsi
  # "Windows-like" and default QEMU hardware: e1000e (q35), e1000 (pc), SATA/IDE disks and cdroms
  e1000e e1000 ahci ata_piix sd_mod sr_mod
  # config drive
  isofs
)

# Installed by scripts/setup-host.sh; files are copied from them, so their versions are cache inputs.
HOST_PACKAGES=(busybox-static syslinux syslinux-common)
# Downloaded per build (not installed: shim-signed/grub-efi-amd64-signed would touch the host's
# boot setup). The kernel package is resolved below from the linux-image-amd64 metapackage.
FETCH_PACKAGES=(shim-signed grub-efi-amd64-signed)

log() { echo "build-guest-image: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

[[ $(id -u) -eq 0 ]] || die "must run as root"
for tool in apt-cache apt-get dpkg-deb dpkg-query modinfo cpio gzip mkfs.fat mcopy mmd \
  syslinux sfdisk qemu-img sha256sum flock; do
  command -v "$tool" >/dev/null || die "$tool not found; run scripts/setup-host.sh"
done

# --- inputs and cache ---------------------------------------------------------------------------
# One apt-cache call (each costs ~0.5 s) gives the candidate versions of everything downloaded.
# The linux-image-amd64 metapackage pins Debian's current kernel ABI package and version
# (e.g. linux-image-6.1.0-56-amd64 (= 6.1.192-2)), so a kernel update triggers a rebuild.
declare -A FETCH_VERSION=()
KERNEL_PKG=
kernel_dep_re='(linux-image-[0-9][^ ,]*-amd64) \(= ([^)]+)\)'
while IFS=: read -r key value; do
  value=${value# }
  case $key in
    Package) pkg=$value ;;
    Version) [[ $pkg == linux-image-amd64 ]] || FETCH_VERSION[$pkg]=$value ;;
    Depends)
      if [[ $pkg == linux-image-amd64 && $value =~ $kernel_dep_re ]]; then
        KERNEL_PKG=${BASH_REMATCH[1]}
        FETCH_VERSION[$KERNEL_PKG]=${BASH_REMATCH[2]}
      fi
      ;;
  esac
done < <(apt-cache show --no-all-versions linux-image-amd64 "${FETCH_PACKAGES[@]}" 2>/dev/null || true)
[[ -n $KERNEL_PKG ]] || die "cannot resolve linux-image-amd64; run apt-get update"
KVER=${KERNEL_PKG#linux-image-}
for p in "${FETCH_PACKAGES[@]}"; do
  [[ -n ${FETCH_VERSION[$p]:-} ]] || die "no candidate version for $p; run apt-get update"
done

inputs_text() {
  local p
  for p in "$KERNEL_PKG" "${FETCH_PACKAGES[@]}"; do echo "$p=${FETCH_VERSION[$p]}"; done
  for p in "${HOST_PACKAGES[@]}"; do
    echo "$p=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || echo missing)"
  done
  echo "cmdline=$CMDLINE"
  echo "modules=${MODULES[*]}"
  # Content hashes of this script and of every file that goes into the guest.
  (cd "$ROOT" && find scripts/build-guest-image.sh scripts/guest -type f -print0 | LC_ALL=C sort -z |
    xargs -0 sha256sum)
}

mkdir -p "$OUT_DIR"
# Concurrent builds (e.g. parallel test runners) would race on the final rename; the second one
# waits and then finds the image up to date.
exec 9>"$OUT_DIR/.stratus-guest.lock"
flock 9

INPUTS_NOW=$(inputs_text)
HASH=$(sha256sum <<<"$INPUTS_NOW" | cut -d' ' -f1)
if [[ -f $IMAGE && -f $INPUTS ]] && [[ $(sed -n 's/^hash=//p' "$INPUTS") == "$HASH" ]]; then
  log "up to date"
  echo "$IMAGE"
  exit 0
fi

for p in "${HOST_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    die "package $p not installed; run scripts/setup-host.sh"
done

# Work inside OUT_DIR so the final mv is an atomic rename on one filesystem.
WORK=$(mktemp -d "$OUT_DIR/.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export MTOOLS_SKIP_CHECK=1

# --- packages -----------------------------------------------------------------------------------
mkdir -p "$WORK/debs" "$WORK/pkg"
log "fetching $KERNEL_PKG ${FETCH_PACKAGES[*]}"
# Sandbox user root: the _apt user cannot write into a root-owned temp dir.
fetch_args=()
for p in "$KERNEL_PKG" "${FETCH_PACKAGES[@]}"; do fetch_args+=("$p=${FETCH_VERSION[$p]}"); done
(cd "$WORK/debs" && apt-get download -q -o APT::Sandbox::User=root "${fetch_args[@]}" >&2)
for p in "$KERNEL_PKG" "${FETCH_PACKAGES[@]}"; do
  dpkg-deb -x "$WORK"/debs/"${p}"_*.deb "$WORK/pkg/$p"
done

VMLINUZ=$WORK/pkg/$KERNEL_PKG/boot/vmlinuz-$KVER
MODDIR=$WORK/pkg/$KERNEL_PKG/lib/modules/$KVER
SHIM=$WORK/pkg/shim-signed/usr/lib/shim/shimx64.efi.signed
GRUB=$WORK/pkg/grub-efi-amd64-signed/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed
for f in "$VMLINUZ" "$MODDIR" "$SHIM" "$GRUB"; do
  [[ -e $f ]] || die "unexpected package layout: ${f#"$WORK"/pkg/} missing"
done

# --- initramfs ----------------------------------------------------------------------------------
ROOTFS=$WORK/rootfs
mkdir -p "$ROOTFS"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,www,mnt/config,lib/modules}
cp /bin/busybox "$ROOTFS/bin/busybox"
while read -r applet; do
  [[ $applet == bin/busybox ]] || ln -sf /bin/busybox "$ROOTFS/$applet"
done < <(/bin/busybox --list-full)
install -m 0755 "$GUEST_SRC/init" "$ROOTFS/init"
install -m 0755 "$GUEST_SRC/udhcpc.script" "$ROOTFS/etc/udhcpc.script"
# Early userspace wants a console before devtmpfs is mounted; if mknod is not permitted, the
# kernel's built-in initramfs still provides /dev/console.
mknod -m 0600 "$ROOTFS/dev/console" c 5 1 2>/dev/null || true
mknod -m 0666 "$ROOTFS/dev/null" c 1 3 2>/dev/null || true

# Module files by module name (modinfo reports names with '_', files may use '-').
declare -A MOD_PATH=()
while read -r f; do
  name=${f##*/}
  name=${name%%.ko*}
  MOD_PATH[${name//-/_}]=$f
done < <(find "$MODDIR/kernel" -name '*.ko*')

declare -A MOD_SEEN=()
MOD_ORDER=()
add_module() { # depth-first, so dependencies are listed before their dependants
  local name=${1//-/_} file deps dep
  [[ -z ${MOD_SEEN[$name]:-} ]] || return 0
  MOD_SEEN[$name]=1
  file=${MOD_PATH[$name]:-}
  if [[ -z $file ]]; then
    # Built into the kernel, or dropped by a newer kernel: nothing to load either way.
    grep -q "/$name.ko" "$MODDIR/modules.builtin" 2>/dev/null || log "warning: module $name not found"
    return 0
  fi
  deps=$(modinfo -F depends "$file")
  for dep in ${deps//,/ }; do add_module "$dep"; done
  MOD_ORDER+=("$name")
  # busybox insmod cannot read compressed modules. Decompressing keeps the appended signature,
  # which the kernel requires under Secure Boot lockdown.
  case $file in
    *.ko.xz) xz -dc "$file" ;;
    *.ko.zst) zstd -qdc "$file" ;;
    *.ko.gz) gzip -dc "$file" ;;
    *) cat "$file" ;;
  esac >"$ROOTFS/lib/modules/$name.ko"
}
for m in "${MODULES[@]}"; do add_module "$m"; done
printf '%s.ko\n' "${MOD_ORDER[@]}" >"$ROOTFS/etc/modules.order"
log "modules: ${MOD_ORDER[*]}"

INITRD=$WORK/initrd.img
(cd "$ROOTFS" && find . -print0 | LC_ALL=C sort -z |
  cpio --null --create --format=newc --owner=0:0 --reproducible --quiet) | gzip -9n >"$INITRD"

# --- boot loader configuration ------------------------------------------------------------------
cat >"$WORK/syslinux.cfg" <<EOF
SERIAL 0 115200
DEFAULT stratus
PROMPT 0
TIMEOUT 0
LABEL stratus
  LINUX /vmlinuz
  INITRD /initrd.img
  APPEND $CMDLINE
EOF
# Debian's signed GRUB has its prefix built in as /EFI/debian on the partition it was loaded from.
# chainloader, not GRUB's own `linux`/`initrd`: GRUB's Linux loader runs out of memory below about
# 384 MiB of guest RAM under OVMF, while chainloading just starts the kernel's EFI stub (verified
# through shim under Secure Boot), which reads initrd= from the same FAT volume itself.
cat >"$WORK/grub.cfg" <<EOF
set timeout=0
menuentry "Stratus test guest" {
  chainloader /vmlinuz initrd=/initrd.img $CMDLINE
}
EOF

# --- FAT filesystem -----------------------------------------------------------------------------
# Files go in with mtools and syslinux installs itself through mtools: no loop mount needed.
payload=0
for f in "$VMLINUZ" "$INITRD" "$SHIM" "$GRUB"; do payload=$((payload + $(stat -c %s "$f"))); done
# 10% plus 5 MiB of slack for FAT tables, syslinux and cluster rounding.
FAT_MIB=$(((payload * 11 / 10 >> 20) + 5))
PART_START=2048 # sectors: the usual 1 MiB alignment of a first partition
FAT=$WORK/fat.img
# -h: the boot sector must know its partition offset; -i: fixed volume id for reproducible output.
mkfs.fat -C -F 16 -n STRATUS -i 5354524e -h "$PART_START" "$FAT" $((FAT_MIB * 1024)) >/dev/null
syslinux --install "$FAT"
mmd -i "$FAT" ::/EFI ::/EFI/BOOT ::/EFI/debian
mcopy -i "$FAT" "$VMLINUZ" ::/vmlinuz
mcopy -i "$FAT" "$INITRD" ::/initrd.img
mcopy -i "$FAT" "$WORK/syslinux.cfg" ::/syslinux.cfg
# Without fbx64.efi next to it, shim goes straight to grubx64.efi in its own directory.
mcopy -i "$FAT" "$SHIM" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$FAT" "$GRUB" ::/EFI/BOOT/grubx64.efi
mcopy -i "$FAT" "$WORK/grub.cfg" ::/EFI/debian/grub.cfg

# --- disk ---------------------------------------------------------------------------------------
# MBR with one active partition of type 0xEF: SeaBIOS runs syslinux's MBR code, which chains to the
# active partition; OVMF mounts the FAT filesystem and runs the removable-media path
# \EFI\BOOT\BOOTX64.EFI.
RAW=$WORK/disk.raw
truncate -s $(((PART_START * 512) + (FAT_MIB << 20))) "$RAW"
printf 'label: dos\nlabel-id: 0x5354524e\nstart=%d, size=%d, type=ef, bootable\n' \
  "$PART_START" $((FAT_MIB * 2048)) | sfdisk --quiet --no-reread --no-tell-kernel "$RAW" >/dev/null
# After sfdisk, which clears the boot code area; mbr.bin is the 440 bytes before the disk signature.
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$RAW" bs=440 count=1 conv=notrunc status=none
dd if="$FAT" of="$RAW" bs=512 seek="$PART_START" conv=notrunc status=none
qemu-img convert -f raw -O qcow2 "$RAW" "$WORK/stratus-guest.qcow2"

mv -f "$WORK/stratus-guest.qcow2" "$IMAGE"
# Recorded last: a build interrupted before this point is simply redone next time.
printf 'hash=%s\n%s\n' "$HASH" "$INPUTS_NOW" >"$WORK/inputs"
mv -f "$WORK/inputs" "$INPUTS"
log "built $IMAGE: $((($(stat -c %s "$IMAGE") + (1 << 20) - 1) >> 20)) MiB, $KERNEL_PKG," \
  "initramfs $(($(stat -c %s "$INITRD") >> 10)) KiB"
echo "$IMAGE"
