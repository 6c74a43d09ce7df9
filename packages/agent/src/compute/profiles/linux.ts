import { InvalidRequest } from '../../errors.js';
import type { GuestProfile } from './types.js';

/** UEFI firmware code (without Secure Boot, so it runs on `pc` and `q35`), mapped read-only. */
export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
/** Template libvirt copies to a domain's variable store the first time the domain starts. */
export const OVMF_VARS_TEMPLATE = '/usr/share/OVMF/OVMF_VARS_4M.fd';

/**
 * Linux guests: virtio disks and NICs (every distribution kernel has the drivers), no video (the serial
 * console is logged), RTC in UTC. UEFI guests run on q35 with SMM, which is how q35 firmware protects its
 * variable store; BIOS guests get the machine they ask for.
 */
export const linuxProfile: GuestProfile = {
  osType: 'linux',
  hardware(req) {
    const uefi = req.firmware === 'uefi';
    // The domain gets exactly the machine the plan showed; the model refuses UEFI on pc at plan time.
    if (uefi && req.machine !== 'q35')
      throw new InvalidRequest(`firmware uefi needs machine q35 (OVMF runs with SMM), got ${req.machine}`, {
        field: ['machine'],
      });
    return {
      machine: req.machine,
      uefi: uefi
        ? { loader: OVMF_CODE, nvramTemplate: OVMF_VARS_TEMPLATE, secureBoot: false, smm: true }
        : null,
      diskBus: 'virtio',
      nicModel: 'virtio',
      video: null,
      clock: 'utc',
    };
  },
};
