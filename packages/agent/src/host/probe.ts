/**
 * Detection of the libvirt domain type this host can really run guests with.
 *
 * `/dev/kvm` existing proves little: some hosts (nested sandboxes with a paravirtual KVM) expose it but run
 * guest code hundreds of times slower than native, so a Linux guest never finishes booting. The probe
 * therefore boots a tiny throwaway guest under `-accel kvm -cpu host` (the CPU model KVM domains use) and
 * requires it to *finish real work* within a deadline, not merely to start.
 */
import { constants } from 'node:fs';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VirtType } from '../compute/types.js';
import { ExecError, run } from './exec.js';
import { logger } from './log.js';

const log = logger('probe');

/** The outcome of {@link probeVirtType}: the domain type to use and why, for logs and the host info API. */
export interface VirtTypeProbe {
  virtType: VirtType;
  reason: string;
}

/** Options of {@link probeVirtType}, mostly for tests. */
export interface ProbeOptions {
  /** How long the probe guest may take, QEMU start-up included (default 3000 ms). */
  timeoutMs?: number;
  /** QEMU binary (default `qemu-system-x86_64`). */
  qemuBinary?: string;
  /** KVM device (default `/dev/kvm`). */
  kvmDevice?: string;
}

/**
 * The probe guest's firmware code, placed at offset 0 of a 64 KiB "BIOS" image that QEMU maps at 0xF0000
 * (and below 4 GiB). Assembled with GNU as from this source (`as --64`, `ld -Ttext=0`, `objcopy -O binary`):
 *
 *   BASE = 0xF0000; LOOPS = 50000000; PAGES = 4096
 *   .code16  cli; xor %ax,%ax; mov %ax,%ds; lgdtl %cs:gdtdesc
 *            mov %cr0,%eax; and $0x9fffffff,%eax; or $1,%eax; mov %eax,%cr0   # PE on, caches on
 *            ljmpl $0x08, $(BASE+start32)
 *   .code32  start32: mov $0x10,%ax; mov %ax,%ds; mov %ax,%es; mov %ax,%ss
 *            zero 12 KiB at 0x10000 (rep stosl); PML4[0]=0x11023; PDPT[0]=0x12023
 *            PD[0..511] = i*2MiB | 0xe3                                     # identity-map 1 GiB, A/D preset
 *            CR4.PAE; CR3=0x10000; EFER.LME (rdmsr/wrmsr 0xC0000080); CR0.PG
 *            ljmp $0x18, $(BASE+start64)
 *   .code64  start64: write one qword to each of PAGES pages from 1 MiB (16 MiB of fresh memory)
 *            check the first page; sum LOOPS..1 in %rax (add/dec/jnz); compare with LOOPS*(LOOPS+1)/2
 *            match: out 0x2a -> port 0xf4 (QEMU exits with (0x2a<<1)|1 = 85); else out 0x15 (exit 43)
 *   gdt:     null, 32-bit code 0x00CF9B000000FFFF, data 0x00CF93000000FFFF, 64-bit code 0x00AF9B000000FFFF
 *   gdtdesc: .word 31; .long BASE+gdt
 *   .org 0xFFF0: ljmp $0xF000, $start16                                  # reset vector
 *
 * The descriptors and page-table entries carry their accessed (and dirty) bits already: the GDT lives in
 * ROM, and a CPU that had to set those bits would write to ROM, which QEMU ignores but KVM may not emulate.
 * Native KVM runs the loop in tens of milliseconds; the paravirtual KVM of nested sandboxes needs minutes.
 */
const PROBE_CODE_HEX =
  'fa31c08ed82e660f011610010f20c06625ffffff9f6683c8010f22c066ea24000f00080066b810008ed88ec08ed0bf0000010031c0' +
  'b9000c0000f3abc7050000010023100100c7050010010023200100bf00200100b8e3000000b9000200008907050000200083c708e2' +
  'f40f20e083c8200f22e0b8000001000f22d8b9800000c00f320d000100000f300f20c00d000000800f22c0ea9c000f00180048c7c7' +
  '0000100048c7c10010000048890f4881c70010000048ffc975f148813c250000100000100000752231c0b980f0fa024801c848ffc9' +
  '75f848bb4098754fde7004004839d87504b02ae6f4b015e6f4f4ebf90000000000000000ffff0000009bcf00ffff00000093cf00ff' +
  'ff0000009baf001f00f0000f00';

/** `ljmp $0xF000, $0` at the reset vector (offset 0xFFF0 of the image). */
const RESET_VECTOR_HEX = 'ea000000f0';

/** QEMU's exit status when the probe guest computed the expected result. */
const EXIT_OK = (0x2a << 1) | 1;
/** QEMU's exit status when the probe guest ran but computed a wrong result. */
const EXIT_WRONG = (0x15 << 1) | 1;

/** Builds the 64 KiB firmware image of the probe guest (unused bytes are `hlt`). */
export function probeFirmware(): Buffer {
  const image = Buffer.alloc(0x10000, 0xf4);
  Buffer.from(PROBE_CODE_HEX, 'hex').copy(image, 0);
  Buffer.from(RESET_VECTOR_HEX, 'hex').copy(image, 0xfff0);
  return image;
}

/**
 * Decides between libvirt domain type `kvm` and `qemu` (TCG). With override `kvm` or `qemu` the probe is
 * skipped; with `auto` (the default) a probe guest must finish under KVM within the deadline, otherwise the
 * answer is `qemu`. Never throws: every failure becomes `qemu` with the failure in `reason`.
 */
export async function probeVirtType(
  override: 'auto' | 'kvm' | 'qemu' = 'auto',
  opts: ProbeOptions = {},
): Promise<VirtTypeProbe> {
  if (override === 'kvm' || override === 'qemu') {
    const result = { virtType: override, reason: `set by override (virt type ${override}); probe skipped` };
    log.info('virt type', { ...result });
    return result;
  }
  const result = await probeKvm(opts);
  log.info('virt type', { ...result });
  return result;
}

async function probeKvm(opts: ProbeOptions): Promise<VirtTypeProbe> {
  const timeoutMs = opts.timeoutMs ?? 3000;
  const qemu = opts.qemuBinary ?? 'qemu-system-x86_64';
  const kvmDevice = opts.kvmDevice ?? '/dev/kvm';
  try {
    await access(kvmDevice, constants.R_OK | constants.W_OK);
  } catch (e) {
    return { virtType: 'qemu', reason: `${kvmDevice} is not usable (${(e as NodeJS.ErrnoException).code})` };
  }

  const dir = await mkdtemp(join(tmpdir(), 'stratus-kvm-probe-'));
  try {
    const firmware = join(dir, 'probe-firmware.bin');
    await writeFile(firmware, probeFirmware());
    // -no-reboot turns a triple fault into an exit instead of an endless reset loop.
    const args = [
      '-accel',
      'kvm',
      '-cpu',
      'host',
      '-machine',
      'pc',
      '-m',
      '32',
      '-nodefaults',
      '-no-user-config',
      '-display',
      'none',
      '-no-reboot',
      '-bios',
      firmware,
      '-device',
      'isa-debug-exit,iobase=0xf4,iosize=0x04',
    ];
    const started = Date.now();
    let exitCode: number | null = 0;
    let stderr = '';
    try {
      await run(qemu, args, { timeoutMs });
    } catch (e) {
      if (!(e instanceof ExecError)) throw e;
      exitCode = e.exitCode;
      stderr = e.stderr.trim();
    }
    const ms = Date.now() - started;
    if (exitCode === EXIT_OK) {
      return {
        virtType: 'kvm',
        reason: `KVM ran the probe guest (long mode, 16 MiB touched, 50M-iteration loop) in ${ms} ms`,
      };
    }
    // run() kills the probe with SIGTERM at the deadline; QEMU then exits 0 (or dies of the signal).
    if (ms >= timeoutMs - 50) {
      return {
        virtType: 'qemu',
        reason:
          `kvm probe guest did not finish within ${timeoutMs} ms (native KVM needs well under a second; ` +
          'this KVM runs guest code too slowly or hangs)',
      };
    }
    if (exitCode === EXIT_WRONG) {
      return { virtType: 'qemu', reason: `kvm probe guest computed a wrong result after ${ms} ms` };
    }
    // QEMU prints harmless CPUID warnings first; the line that explains a failure is another one.
    const detail = stderr.split('\n').find((l) => !l.includes('warning:')) ?? stderr.split('\n')[0] ?? '';
    if (exitCode === null) return { virtType: 'qemu', reason: `could not run ${qemu}: ${detail}` };
    return {
      virtType: 'qemu',
      reason: `kvm probe guest failed after ${ms} ms (exit ${exitCode}${detail ? `: ${detail}` : ''})`,
    };
  } catch (e) {
    return { virtType: 'qemu', reason: `kvm probe could not run: ${(e as Error).message}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
