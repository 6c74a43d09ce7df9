import { InvalidRequest } from '../../errors.js';
import type { GuestHardware, GuestProfile, HardwareRequest } from './types.js';

/** UEFI firmware code (without Secure Boot, so it runs on `pc` and `q35`), mapped read-only. */
export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
/** Template libvirt copies to a domain's variable store the first time the domain starts. */
export const OVMF_VARS_TEMPLATE = '/usr/share/OVMF/OVMF_VARS_4M.fd';
/** UEFI firmware code built with Secure Boot and SMM (Debian's `ovmf`; needs q35 with SMM on). */
export const OVMF_CODE_SECURE = '/usr/share/OVMF/OVMF_CODE_4M.ms.fd';
/** Variable store template with Microsoft's keys enrolled and Secure Boot enforced (Debian's `ovmf`). */
export const OVMF_VARS_MS_TEMPLATE = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';

/**
 * The UEFI firmware of a domain: plain OVMF, or with `secureBoot` the Secure Boot build and the
 * Microsoft-keys variable store (SMM is on either way: q35 firmware protects its variables with it).
 * Throws InvalidRequest when UEFI is asked on a machine other than q35, or Secure Boot without UEFI.
 */
export function uefiFirmware(req: HardwareRequest): GuestHardware['uefi'] {
  if (req.firmware !== 'uefi') {
    if (req.secureBoot)
      throw new InvalidRequest('Secure Boot needs firmware uefi', { field: ['secureBoot'] });
    return null;
  }
  // The domain gets exactly the machine the plan showed; the model refuses UEFI on pc at plan time.
  if (req.machine !== 'q35')
    throw new InvalidRequest(`firmware uefi needs machine q35 (OVMF runs with SMM), got ${req.machine}`, {
      field: ['machine'],
    });
  return req.secureBoot
    ? { loader: OVMF_CODE_SECURE, nvramTemplate: OVMF_VARS_MS_TEMPLATE, secureBoot: true, smm: true }
    : { loader: OVMF_CODE, nvramTemplate: OVMF_VARS_TEMPLATE, secureBoot: false, smm: true };
}

/**
 * Linux guests: virtio disks and NICs (every distribution kernel has the drivers), no video (the serial
 * console is logged), RTC in UTC, a TPM only when asked. UEFI guests run on q35 with SMM, which is how q35
 * firmware protects its variable store; BIOS guests get the machine they ask for.
 */
export const linuxProfile: GuestProfile = {
  osType: 'linux',
  hardware(req) {
    return {
      machine: req.machine,
      uefi: uefiFirmware(req),
      diskBus: 'virtio',
      nicModel: 'virtio',
      video: null,
      clock: 'utc',
      timers: [],
      tpm: req.tpm ?? false,
      hyperv: false,
      tablet: false,
    };
  },
};
