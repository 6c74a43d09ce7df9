/**
 * `stratus-agent doctor`: checks every host prerequisite of the agent, each with what to do when it
 * fails. Nothing is assumed: daemons are asked (libvirtd answers `virsh version`, virtlogd accepts a
 * connection on its socket, OVS answers `ovs-vsctl show`), tools are run, and KVM is judged by the same
 * probe guest the agent uses at start (a `/dev/kvm` that exists but cannot run guests means TCG).
 * `stratus doctor` runs this (the CLI itself runs no host command) and adds the agent's own socket.
 */
import { constants, existsSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { connect } from 'node:net';
import type { DoctorCheck } from '@stratus/model';
import { ExecError, run } from './exec.js';
import { nft } from './nft.js';
import { probeVirtType } from './probe.js';

/** Options of {@link doctor}. */
export interface DoctorOptions {
  libvirtUri?: string;
  /** virtlogd's socket (default `/run/libvirt/virtlogd-sock`). */
  virtlogdSocket?: string;
  /** A guest image to check (qemu-img must read it), e.g. the quickstart's. */
  guestImage?: string;
}

/** The first line of what a failed command said. */
function why(e: unknown): string {
  if (e instanceof ExecError) {
    if (e.exitCode === null && /ENOENT/.test(e.stderr)) return `${e.command} is not installed`;
    const line =
      e.stderr
        .trim()
        .split('\n')
        .find((l) => l.trim() !== '') ?? '';
    return `${e.command} failed (exit ${e.exitCode ?? 'signal'})${line ? `: ${line.trim()}` : ''}`;
  }
  return (e as Error).message;
}

/** The first line of a tool's `--version` output. */
async function version(cmd: string, args: string[] = ['--version']): Promise<string> {
  const r = await run(cmd, args, { timeoutMs: 15_000 });
  return (r.stdout || r.stderr).trim().split('\n')[0] ?? '';
}

function socketAccepts(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function check(
  name: string,
  required: boolean,
  fix: string,
  fn: () => Promise<string>,
): Promise<DoctorCheck> {
  try {
    return { name, status: 'ok', required, detail: await fn() };
  } catch (e) {
    return { name, status: required ? 'fail' : 'warn', required, detail: why(e), fix };
  }
}

const SETUP = 'or run `bash scripts/setup-host.sh` from the Stratus repository, as root';

/** Runs every check (independent checks at once) and answers them in a fixed order. */
export async function doctor(opts: DoctorOptions = {}): Promise<DoctorCheck[]> {
  const uri = opts.libvirtUri ?? 'qemu:///system';
  const virtlogd = opts.virtlogdSocket ?? '/run/libvirt/virtlogd-sock';
  const checks: Promise<DoctorCheck>[] = [
    check(
      'libvirtd',
      true,
      `start it: \`libvirtd -d\` (with systemd: \`systemctl start libvirtd\`), ${SETUP}`,
      async () => {
        const r = await run('virsh', ['-c', uri, 'version'], { timeoutMs: 20_000 });
        const lib = /Using library: (.*)/.exec(r.stdout)?.[1]?.trim();
        const hv = /Running hypervisor: (.*)/.exec(r.stdout)?.[1]?.trim();
        return `answers at ${uri}${lib ? ` (${lib}${hv ? `, ${hv}` : ''})` : ''}`;
      },
    ),
    check(
      'virtlogd',
      true,
      `start it: \`virtlogd -d\` (with systemd: \`systemctl start virtlogd\`), ${SETUP}`,
      async () => {
        if (!(await socketAccepts(virtlogd))) throw new Error(`nothing accepts connections on ${virtlogd}`);
        return `accepts connections on ${virtlogd}`;
      },
    ),
    check('qemu', true, 'install it: `apt-get install qemu-system-x86`', () => version('qemu-system-x86_64')),
    hypervisor(),
    check('qemu-img', true, 'install it: `apt-get install qemu-utils`', () => version('qemu-img')),
    check('dnsmasq', true, 'install it: `apt-get install dnsmasq-base`', () => version('dnsmasq')),
    check('iproute2', true, 'install it: `apt-get install iproute2`', async () => {
      await run('ip', ['netns', 'list'], { timeoutMs: 15_000 });
      return `${await version('ip', ['-V'])}; network namespaces work`;
    }),
    check('ssh-keygen', true, 'install it: `apt-get install openssh-client`', () =>
      version('ssh-keygen', ['-V']).catch(async () => {
        // OpenSSH's ssh-keygen has no version flag; asking for a fingerprint of nothing proves it runs.
        await run('ssh-keygen', ['-l', '-f', '/dev/null'], { okCodes: [255], timeoutMs: 15_000 });
        return 'present';
      }),
    ),
    check(
      'nftables',
      false,
      'install it: `apt-get install nftables` (not used by Stratus yet: planned for security groups)',
      async () => {
        await nft(['list', 'tables'], { timeoutMs: 15_000 });
        return `${await version('nft', ['--version'])}; the kernel answers \`nft list tables\``;
      },
    ),
    ovs(),
    check(
      'uefi firmware',
      false,
      'install it: `apt-get install ovmf` (only servers with firmware: uefi need it)',
      async () => {
        await access('/usr/share/OVMF/OVMF_CODE_4M.fd', constants.R_OK);
        return '/usr/share/OVMF/OVMF_CODE_4M.fd';
      },
    ),
  ];
  if (opts.guestImage) {
    const img = opts.guestImage;
    checks.push(
      check(
        'guest image',
        false,
        'build it: `bash scripts/build-guest-image.sh` (the quickstart does)',
        async () => {
          if (!existsSync(img)) throw new Error(`${img} does not exist`);
          const info = JSON.parse(
            (await run('qemu-img', ['info', '--output=json', img], { timeoutMs: 30_000 })).stdout,
          ) as {
            format?: string;
            'virtual-size'?: number;
          };
          return `${img} (${info.format ?? '?'}, ${Math.round((info['virtual-size'] ?? 0) / 2 ** 20)} MiB virtual)`;
        },
      ),
    );
  }
  return Promise.all(checks);
}

/** KVM or TCG, judged by the probe guest; TCG is not a failure (guests run, slower). */
async function hypervisor(): Promise<DoctorCheck> {
  const kvm = existsSync('/dev/kvm');
  const probe = await probeVirtType('auto');
  if (probe.virtType === 'kvm')
    return {
      name: 'hypervisor',
      status: 'ok',
      required: true,
      detail: `KVM: ${probe.reason}`,
      virtType: 'kvm',
    };
  return {
    name: 'hypervisor',
    status: 'ok',
    required: true,
    virtType: 'qemu',
    detail: `TCG (software emulation; guests run, several times slower): ${kvm ? '/dev/kvm exists but did not run the probe guest: ' : ''}${probe.reason}`,
    fix: kvm
      ? 'for KVM: a host whose CPU virtualization works (a nested sandbox may expose a /dev/kvm that cannot run guests)'
      : 'for KVM: enable virtualization (VT-x/AMD-V) in the firmware and load kvm_intel or kvm_amd',
  };
}

/** Open vSwitch: both daemons answer, and which datapath bridges get (netdev when no kernel module). */
function ovs(): Promise<DoctorCheck> {
  return check(
    'openvswitch',
    false,
    'start ovsdb-server and ovs-vswitchd (`ovsdb-server --remote=punix:/var/run/openvswitch/db.sock --pidfile --detach`, `ovs-vswitchd --pidfile --detach`), ' +
      `${SETUP}; Stratus networks use Linux bridges today, OVS is optional`,
    async () => {
      await run('ovs-vsctl', ['--timeout=5', 'show'], { timeoutMs: 15_000 });
      const types = (
        await run('ovs-vsctl', ['--timeout=5', 'get', 'Open_vSwitch', '.', 'datapath_types'], {
          timeoutMs: 15_000,
        })
      ).stdout.trim();
      const module = existsSync('/sys/module/openvswitch');
      if (!module && !/netdev/.test(types))
        throw new Error(`no openvswitch kernel module and ovs-vswitchd offers no netdev datapath (${types})`);
      return `ovsdb-server and ovs-vswitchd answer; datapath ${module ? 'system (kernel module loaded)' : 'netdev (userspace: no kernel module)'}`;
    },
  );
}
