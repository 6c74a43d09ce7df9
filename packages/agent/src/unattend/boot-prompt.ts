/**
 * Getting an unattended install past the boot prompt of Microsoft's UEFI install media.
 *
 * The El Torito EFI image of a Windows ISO (`efisys.bin`, whose `\EFI\BOOT\BOOTX64.EFI` is `cdboot.efi`)
 * shows "Press any key to boot from CD or DVD..." and, when no key comes within a few seconds, returns
 * to the firmware, which boots the next device: the blank disk, so nothing installs. Microsoft made the
 * prompt so that the reboots *during* Setup (windowsPE -> specialize, with the media still attached and
 * first in the boot order) fall through to the disk instead of starting Setup over. The BIOS boot sector
 * (`etfsboot.com`) prompts only when the disk already holds a bootable system, so a BIOS install from a
 * blank disk boots the media directly.
 *
 * Methods considered:
 * - Remastering the ISO with `efisys_noprompt.bin` (Microsoft's "oscdimg command-line options"): the
 *   documented way to media without the prompt, but it rewrites a multi-GiB ISO per image on the host
 *   and needs the ISO to carry that file; the user's media would no longer be what they uploaded.
 * - A firmware boot entry for `\efi\microsoft\boot\cdboot_noprompt.efi`: needs writing OVMF's variable
 *   store before the first boot; not something the host can do reliably for every firmware build.
 * - Pressing a key on the guest's keyboard (libvirt's `virDomainSendKey`, `virsh send-key`), as Packer's
 *   `boot_command` and quickemu (Enter, several times at one-second intervals) do. Chosen: it works with
 *   the media as the user has them, and the agent knows exactly when the install boot begins.
 *
 * When: only on the boot that begins the install: the agent has just created or started the domain (a
 * guest's own reboot during Setup is a reset inside QEMU, which the agent neither causes nor presses
 * for), setup has not signalled its end, the firmware is UEFI, and the root disk holds no data yet
 * (Setup has not written it: a start after that must fall through to the disk, as the prompt intends).
 * How: Enter every {@link PRESS_INTERVAL_MS} for a window long enough for the firmware to reach the
 * prompt ({@link pressWindowMs}: longer under TCG, where OVMF and cdboot run far slower), stopping early
 * when the domain stops. Presses past the prompt reach Windows PE's boot and Setup's first screens, which
 * need no keys with an answer file; Setup's own reboot comes only after it copied the image, minutes
 * after the window has closed.
 */
import type { ComputeDriver, EnsureDomainAction } from '../compute/driver.js';
import { logger } from '../host/log.js';

const log = logger('unattend');

/** The key pressed (Linux input key name): Enter, which cdboot.efi takes as "any key". */
export const PROMPT_KEY = 'KEY_ENTER';

/** Time between presses. */
export const PRESS_INTERVAL_MS = 2000;

/**
 * How long after the domain's start the agent presses: 30 s under KVM (OVMF reaches the prompt in a few
 * seconds), 150 s under TCG (domain type `qemu`), where firmware and boot loader run many times slower.
 */
export function pressWindowMs(virtType: 'kvm' | 'qemu'): number {
  return virtType === 'kvm' ? 30_000 : 150_000;
}

/** What decides whether the agent presses through the install media's boot prompt. */
export interface BootPromptFacts {
  /** The server installs from media and setup has not signalled its end. */
  installing: boolean;
  /** The server's firmware (only UEFI install media prompt on a blank disk). */
  firmware: 'bios' | 'uefi';
  /** What the agent's ensure did to the domain just now. */
  action: EnsureDomainAction;
  /** Whether the root disk holds data (Setup has written it). */
  diskHasData: boolean;
}

/** Whether this start of the domain is the install boot whose prompt the agent presses through. */
export function pressesBootPrompt(f: BootPromptFacts): boolean {
  return (
    f.installing &&
    f.firmware === 'uefi' &&
    (f.action === 'created' || f.action === 'started') &&
    !f.diskHasData
  );
}

/**
 * Presses {@link PROMPT_KEY} on the domain every {@link PRESS_INTERVAL_MS} until `windowMs` has passed,
 * the domain no longer runs, or `signal` aborts; answers the number of presses. A failed press (the guest
 * stopped between the check and the press) ends it; it never throws.
 */
export async function pressBootPrompt(
  compute: Pick<ComputeDriver, 'sendKey' | 'domainState'>,
  serverId: string,
  windowMs: number,
  signal: AbortSignal,
): Promise<number> {
  const until = Date.now() + windowMs;
  let presses = 0;
  while (!signal.aborted && Date.now() < until) {
    try {
      if ((await compute.domainState(serverId)) !== 'running') break;
      await compute.sendKey(serverId, [PROMPT_KEY]);
      presses++;
    } catch (e) {
      log.warn('boot prompt key press failed', { serverId, error: (e as Error).message });
      break;
    }
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      };
      // Unref'd: presses never keep a stopping agent alive.
      const t = setTimeout(done, PRESS_INTERVAL_MS);
      t.unref();
      signal.addEventListener('abort', done, { once: true });
    });
  }
  log.info('install boot prompt: keys pressed', { serverId, key: PROMPT_KEY, presses });
  return presses;
}
