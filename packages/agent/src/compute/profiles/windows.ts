import { InvalidRequest } from '../../errors.js';
import { uefiFirmware } from './linux.js';
import type { ClockTimer, GuestProfile } from './types.js';

/**
 * Timers of a Windows guest, as libvirt's and virt-manager's Windows defaults and Nova's libvirt driver
 * set them (`_set_clock` / `_get_guest_config_clock` for os_type windows): the RTC catches up on missed
 * ticks, the PIT delays them, and the HPET is off (Windows' clock drifts with QEMU's emulated HPET).
 * `hypervclock` is added where the Hyper-V enlightenments are (domain type kvm).
 */
const WINDOWS_TIMERS: readonly ClockTimer[] = [
  { name: 'rtc', tickpolicy: 'catchup' },
  { name: 'pit', tickpolicy: 'delay' },
  { name: 'hpet', present: false },
];

/**
 * Windows guests: q35 (Windows 11 setup and the TPM need PCIe and q35's SMM), UEFI (OVMF; Secure Boot
 * with Microsoft's keys when asked), a TPM 2.0 unless turned off, an RTC in local time (Windows keeps
 * local time in it), VNC with a VGA card and a USB tablet (no serial console to speak of), and virtio
 * disks and NICs: images without the virtio-win drivers say so with `hw_disk_bus=sata` and
 * `hw_vif_model=e1000e`, which Windows drives out of the box. Hyper-V enlightenments are asked for and
 * rendered only under KVM.
 */
export const windowsProfile: GuestProfile = {
  osType: 'windows',
  hardware(req) {
    if (req.machine !== 'q35')
      throw new InvalidRequest(`Windows guests run on machine q35, got ${req.machine}`, {
        field: ['machine'],
      });
    return {
      machine: 'q35',
      uefi: uefiFirmware(req),
      diskBus: 'virtio',
      nicModel: 'virtio',
      video: 'vga',
      clock: 'localtime',
      timers: [...WINDOWS_TIMERS],
      tpm: req.tpm ?? true,
      hyperv: true,
      tablet: true,
    };
  },
};
