#!/usr/bin/env -S UV_THREADPOOL_SIZE=16 node --max-semi-space-size=1 --lite-mode
import { parseArgs } from 'node:util';
import { MAX_TIMER_MS, NETWORK_DRIVERS, parseDuration } from '@stratus/model';
import { localAgentPaths } from '@stratus/util';
import { StratusAgent } from './agent.js';
import { doctor } from './host/doctor.js';
import { type LogLevel, logger, setLogLevel } from './host/log.js';
import type { NetworkDriverKind } from './network/driver.js';
import type { OvsDatapath } from './network/ovs/vsctl.js';

const USAGE = `Usage: stratus-agent [options]
       stratus-agent doctor [--json] [--libvirt-uri URI] [--guest-image FILE]
                      Check this host's prerequisites, each with what to do when it fails;
                      exit 1 when a required one fails (stratus doctor runs this)

  --state-dir DIR     Records, image cache, instances, token (default /var/lib/stratus-agent,
                      or STRATUS_AGENT_STATE_DIR)
  --socket PATH       Unix socket of the API (default /run/stratus-agent/agent.sock, or STRATUS_AGENT_SOCKET)
  --listen HOST:PORT  Also serve the API on TCP (HTTPS with --tls-cert/--tls-key; plain only on loopback)
  --tls-cert FILE, --tls-key FILE
                      PEM certificate and key for --listen
  --virt-type auto|kvm|qemu
                      Domain type; auto probes whether KVM really runs guests (default auto,
                      or STRATUS_VIRT_TYPE)
  --libvirt-uri URI   (default qemu:///system, or STRATUS_LIBVIRT_URI)
  --host NAME         The name this host goes by in API answers (default local, or STRATUS_AGENT_HOST)
  --allow-image-dir DIR
                      Let clients name image files below DIR for the agent to read (repeatable;
                      default none: clients such as the stratus CLI upload the file's data)
  --hypervisor-group NAME
                      Group that may read cached images besides root (default libvirt-qemu)
  --network-driver linuxbridge|ovs
                      Driver of networks that name none (default linuxbridge, or STRATUS_NETWORK_DRIVER)
  --ovs-datapath auto|system|netdev
                      Datapath of Open vSwitch bridges; auto: system when the openvswitch kernel
                      module is loaded, else netdev (default auto)
  --upload-lease DURATION
                      How long an image upload waits for the create that names it before it is
                      removed, e.g. 10m, 90s (default 10m)
  --log-level debug|info|warn|error
                      (or STRATUS_AGENT_LOG_LEVEL); log lines are JSON on stderr, or appended to the
                      file STRATUS_AGENT_LOG_FILE names
`;

const log = logger('main');

/** `stratus-agent doctor`: the host checks, as a table or JSON; exit 1 when a required one fails. */
async function runDoctor(argv: string[]): Promise<void> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        json: { type: 'boolean' },
        'libvirt-uri': { type: 'string' },
        'guest-image': { type: 'string' },
      },
      strict: true,
    }));
  } catch (e) {
    process.stderr.write(`stratus-agent doctor: ${(e as Error).message}\n\n${USAGE}`);
    process.exit(1);
  }
  // The KVM probe logs its finding; the report says it already.
  setLogLevel('error');
  const checks = await doctor({
    libvirtUri: (values['libvirt-uri'] as string | undefined) ?? process.env.STRATUS_LIBVIRT_URI,
    guestImage: values['guest-image'] as string | undefined,
  });
  if (values.json) process.stdout.write(`${JSON.stringify(checks, null, 2)}\n`);
  else
    for (const c of checks)
      process.stdout.write(
        `${c.status.padEnd(4)}  ${c.name}: ${c.detail}${c.status !== 'ok' && c.fix ? `\n      fix: ${c.fix}` : ''}\n`,
      );
  process.exitCode = checks.some((c) => c.status === 'fail') ? 1 : 0;
}

async function main(): Promise<void> {
  if (process.argv[2] === 'doctor') return runDoctor(process.argv.slice(3));
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        'state-dir': { type: 'string' },
        socket: { type: 'string' },
        listen: { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'virt-type': { type: 'string' },
        'libvirt-uri': { type: 'string' },
        host: { type: 'string' },
        'log-level': { type: 'string' },
        'allow-image-dir': { type: 'string', multiple: true },
        'hypervisor-group': { type: 'string' },
        'network-driver': { type: 'string' },
        'ovs-datapath': { type: 'string' },
        'upload-lease': { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (e) {
    process.stderr.write(`stratus-agent: ${(e as Error).message}\n\n${USAGE}`);
    process.exit(1);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const env = { ...process.env };
  if (values['state-dir']) env.STRATUS_AGENT_STATE_DIR = values['state-dir'] as string;
  if (values.socket) env.STRATUS_AGENT_SOCKET = values.socket as string;
  const paths = localAgentPaths(env);
  const virtType = (values['virt-type'] as string | undefined) ?? process.env.STRATUS_VIRT_TYPE ?? 'auto';
  if (!['auto', 'kvm', 'qemu'].includes(virtType)) {
    process.stderr.write(`stratus-agent: --virt-type must be auto, kvm or qemu\n`);
    process.exit(1);
  }
  const networkDriver =
    (values['network-driver'] as string | undefined) ?? process.env.STRATUS_NETWORK_DRIVER ?? 'linuxbridge';
  if (!(NETWORK_DRIVERS as readonly string[]).includes(networkDriver)) {
    process.stderr.write(`stratus-agent: --network-driver must be ${NETWORK_DRIVERS.join(' or ')}\n`);
    process.exit(1);
  }
  const ovsDatapath = (values['ovs-datapath'] as string | undefined) ?? 'auto';
  if (!['auto', 'system', 'netdev'].includes(ovsDatapath)) {
    process.stderr.write(`stratus-agent: --ovs-datapath must be auto, system or netdev\n`);
    process.exit(1);
  }
  const lease = values['upload-lease'] as string | undefined;
  const uploadLeaseMs = lease === undefined ? undefined : parseDuration(lease);
  if (
    uploadLeaseMs === undefined ? lease !== undefined : uploadLeaseMs <= 0 || uploadLeaseMs > MAX_TIMER_MS
  ) {
    process.stderr.write(
      `stratus-agent: --upload-lease must be a duration such as 10m or 90s, not ${lease}\n`,
    );
    process.exit(1);
  }
  const level = values['log-level'] as LogLevel | undefined;
  if (level) setLogLevel(level);
  const agent = new StratusAgent({
    stateDir: paths.stateDir,
    socket: paths.socket,
    listen: values.listen as string | undefined,
    tls:
      values['tls-cert'] && values['tls-key']
        ? { certFile: values['tls-cert'] as string, keyFile: values['tls-key'] as string }
        : undefined,
    virtType: virtType as 'auto' | 'kvm' | 'qemu',
    libvirtUri:
      (values['libvirt-uri'] as string | undefined) ?? process.env.STRATUS_LIBVIRT_URI ?? 'qemu:///system',
    host: (values.host as string | undefined) ?? process.env.STRATUS_AGENT_HOST ?? 'local',
    allowImageDirs: (values['allow-image-dir'] as string[] | undefined) ?? [],
    hypervisorGroup: values['hypervisor-group'] as string | undefined,
    networkDriver: networkDriver as NetworkDriverKind,
    ovsDatapath: ovsDatapath as 'auto' | OvsDatapath,
    uploadLeaseMs,
  });
  await agent.start();
  const stop = (sig: string) => {
    log.info('stopping', { signal: sig });
    void agent.stop().finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((e: unknown) => {
  log.error('failed to start', { error: (e as Error).stack ?? String(e) });
  process.exit(1);
});
