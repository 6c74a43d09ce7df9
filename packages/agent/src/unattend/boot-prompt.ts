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
 * How long: from the domain's start, Enter every {@link PRESS_INTERVAL_MS}, until a while after the
 * firmware says on the serial console that it starts a boot option (OVMF's `BdsDxe: starting Boot...`
 * line, {@link FIRMWARE_BOOT_RE}; cdboot.efi prompts right after): {@link pressWindow}'s `afterBootMs`.
 * A fixed time from the start does not do: on a busy TCG host OVMF alone was seen taking over four
 * minutes to reach the DVD. Firmware that prints no such line gets presses until `maxMs`. Presses stop
 * early when the domain stops, the next boot begins, or the installer has begun: the root disk holds data
 * (Setup partitions it first thing, long after the prompt; the same fact that makes a later start fall
 * through to the disk), so the window is bounded by that event under TCG, not by its full length. Presses before the prompt go to the firmware,
 * which ignores Enter outside its menus; presses after it reach Windows PE's boot and Setup's first
 * screens, which need no keys with an answer file; Setup's own restart comes only after it copied the
 * image, long after the window has closed.
 */

import type { ComputeDriver, EnsureDomainAction } from '../compute/driver.js';
import { logger } from '../host/log.js';
import { readLogAfter } from '../storage/files.js';

const log = logger('unattend');

/** The key pressed (Linux input key name): Enter, which cdboot.efi takes as "any key". */
export const PROMPT_KEY = 'KEY_ENTER';

/** Time between presses. */
export const PRESS_INTERVAL_MS = 2000;

/** OVMF's line (on the serial console) when it starts a boot option, e.g. the DVD's EFI boot loader. */
export const FIRMWARE_BOOT_RE = /BdsDxe: starting Boot[0-9A-F]{4}/;

/** How long the agent presses: after the firmware's boot line, and at most (for firmware that prints none). */
export interface PressWindow {
  afterBootMs: number;
  maxMs: number;
}

/**
 * The press window by domain type: under KVM 20 s after the firmware's boot line (at most 5 minutes);
 * under TCG (`qemu`), where everything runs many times slower (a Linux kernel was seen taking over five
 * minutes from OVMF's boot line to its init on a busy host), 10 minutes after it (at most 30 minutes).
 * Windows Setup's own restart comes only after it applied install.wim: far later under TCG.
 */
export function pressWindow(virtType: 'kvm' | 'qemu'): PressWindow {
  return virtType === 'kvm'
    ? { afterBootMs: 20_000, maxMs: 300_000 }
    : { afterBootMs: 600_000, maxMs: 1_800_000 };
}

/**
 * Whether the serial console log at `path` has the firmware's boot line after byte `offset` (where the
 * log ended when the domain started; it is appended to across boots).
 */
export async function firmwareBootSeen(path: string, offset: number): Promise<boolean> {
  // The line comes early in a boot: the first 1 MiB after the start holds it.
  return FIRMWARE_BOOT_RE.test(await readLogAfter(path, offset, 1024 * 1024, 'first'));
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

/** Where the domain's serial console goes, and where its log ended when the domain started. */
export interface ConsoleAt {
  path: string;
  offset: number;
}

/**
 * Presses {@link PROMPT_KEY} on the domain every {@link PRESS_INTERVAL_MS} until `window.afterBootMs`
 * after the firmware's boot line appeared in the console log (after `serial.offset`), `window.maxMs`
 * after the start, the domain no longer runs, `diskHasData` (asked before each press once the boot line
 * was seen) answers true because the installer has written the root disk, or `signal` aborts; answers
 * the number of presses. A failed press (the guest stopped between the check and the press) ends it; a
 * failed disk check counts as no data yet; it never throws.
 */
export async function pressBootPrompt(
  compute: Pick<ComputeDriver, 'sendKey' | 'domainState'>,
  serverId: string,
  serial: ConsoleAt,
  window: PressWindow,
  diskHasData: () => Promise<boolean>,
  signal: AbortSignal,
): Promise<number> {
  let until = Date.now() + window.maxMs;
  let bootSeen = false;
  let installerBegun = false;
  let presses = 0;
  while (!signal.aborted && Date.now() < until) {
    try {
      if ((await compute.domainState(serverId)) !== 'running') break;
      if (!bootSeen && (await firmwareBootSeen(serial.path, serial.offset))) {
        bootSeen = true;
        until = Math.min(until, Date.now() + window.afterBootMs);
      }
      if (bootSeen && (await diskHasData().catch(() => false))) {
        installerBegun = true;
        break;
      }
      await compute.sendKey(serverId, [PROMPT_KEY]);
      presses++;
    } catch (e) {
      log.warn('boot prompt key press failed', { serverId, error: (e as Error).message });
      break;
    }
    if (Date.now() >= until) break;
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
  log.info('install boot prompt: keys pressed', {
    serverId,
    key: PROMPT_KEY,
    presses,
    firmwareBootLine: bootSeen,
    installerWroteDisk: installerBegun,
  });
  return presses;
}
