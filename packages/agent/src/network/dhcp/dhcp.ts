/**
 * The DHCP service of a network: namespace `qdhcp-<id>`, joined to the network's L2 segment by a veth pair
 * (plugged in by the network driver's {@link DhcpUplink}, so no Linux bridge is assumed),
 * running a daemonized dnsmasq that serves static leases only (Neutron's layout).
 *
 * Supervision: {@link ensureDhcp} is the supervisor. When nothing drifted it costs five `ip` queries and a
 * few small file reads and stats, so the agent calls it at startup and every ~10 s per network; it restarts
 * a dead dnsmasq and repairs a missing namespace, veth or address. There is no separate revive function.
 * A server's port coming or going needs none of that: {@link reloadDhcpHosts} rewrites the hosts file
 * and signals the running dnsmasq.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readIfExists, writeFileAtomic } from '@stratus/util';
import { run } from '../../host/exec.js';
import { logger } from '../../host/log.js';
import { assertId, dhcpHostVeth, dhcpNamespace, dhcpNsVeth } from '../../host/names.js';
import { parseCidr } from '../ipam.js';
import {
  disableIpv6,
  getRootLink,
  ip,
  ipv4Addresses,
  isUp,
  listLinks,
  namespaceExists,
  namespacePids,
} from '../iplink.js';
import { withLock } from '../lock.js';
import { forgetOvsPort } from '../ovs/vsctl.js';
import {
  blockingLeases,
  type DhcpPaths,
  dhcpPaths,
  dnsmasqArgs,
  hostsFileText,
  leaseLineKey,
  optsFileText,
  pruneLeases,
  releaseArgs,
  unusedLeases,
  validateDhcpSpec,
} from './dnsmasq-config.js';
import { assertTraversableByOthers, SHARED_FILE_MODE, writeIfChanged } from './files.js';
import {
  findDnsmasq,
  inNamespace,
  isDnsmasqWith,
  processArgv,
  readPidFile,
  sendSignal,
  terminate,
} from './proc.js';
import type { DhcpSpec, DhcpStatus, DhcpUplink } from './types.js';

const log = logger('network');

/**
 * Converges the DHCP service of `spec.networkId` to `spec`; idempotent. The network's segment must
 * exist (its uplink `ready`). Host or option changes reach a running dnsmasq by SIGHUP, and a lease
 * blocking a reassigned address is released with `dhcp_release`; a changed set of subnets or a dead
 * dnsmasq (re)start it. State lives in
 * `<stateDir>/dhcp/<networkId>/`, which dnsmasq reads as an unprivileged user, so `stateDir` and its
 * parents must be traversable by other users (checked, with a clear error).
 */
export async function ensureDhcp(spec: DhcpSpec, stateDir: string): Promise<void> {
  validateDhcpSpec(spec);
  const id = spec.networkId;
  await withLock(`dhcp:${id}`, async () => {
    if (!(await spec.uplink.ready())) {
      throw new Error(`${spec.uplink.description} of network ${id} does not exist; create the network first`);
    }
    await ensureNamespace(id);
    await ensureVeth(id, spec.mtu, spec.uplink);
    await ensureAddresses(spec);
    await ensureDnsmasq(spec, dhcpPaths(stateDir, id));
  });
}

/**
 * Brings the DHCP service of `spec.networkId` to new static leases (a server's port came or went): when
 * its dnsmasq runs as `spec` needs, only the hosts file is rewritten, stale leases are released and
 * dnsmasq gets SIGHUP, with no `ip` command and no restart (Neutron's `reload_allocations`). Anything
 * else (no dnsmasq, a changed command line, a namespace gone) falls back to {@link ensureDhcp}.
 */
export async function reloadDhcpHosts(spec: DhcpSpec, stateDir: string): Promise<void> {
  validateDhcpSpec(spec);
  const paths = dhcpPaths(stateDir, spec.networkId);
  const reloaded = await withLock(`dhcp:${spec.networkId}`, async () => {
    const serving = await servingPid(spec, paths, dnsmasqInputs(spec, paths).args);
    return serving.pid !== null && (await reloadDnsmasq(spec, paths, serving.pid));
  });
  if (!reloaded) await ensureDhcp(spec, stateDir);
}

/** Observed state of the DHCP service of `networkId`. */
export async function dhcpStatus(networkId: string, stateDir: string): Promise<DhcpStatus> {
  assertId(networkId);
  return {
    namespace: await namespaceExists(dhcpNamespace(networkId)),
    dnsmasqPid: await runningPid(dhcpPaths(stateDir, networkId)),
  };
}

/**
 * Removes the DHCP service of `networkId`: stops dnsmasq (SIGTERM, then SIGKILL) and anything else in the
 * namespace, deletes the veth pair and the namespace, and removes the state files. Idempotent.
 */
export async function deleteDhcp(networkId: string, stateDir: string): Promise<void> {
  assertId(networkId);
  const paths = dhcpPaths(stateDir, networkId);
  const ns = dhcpNamespace(networkId);
  await withLock(`dhcp:${networkId}`, async () => {
    const hasNs = await namespaceExists(ns);
    const pids = new Set(await ourDnsmasqPids(networkId, paths));
    if (hasNs) for (const p of await namespacePids(ns)) pids.add(p);
    if (pids.size > 0) log.info('stopping DHCP processes', { networkId, pids: [...pids] });
    await terminate([...pids]);
    const hostVeth = dhcpHostVeth(networkId);
    const hasVeth = (await getRootLink(hostVeth)) !== null;
    if (hasVeth) await ip(['link', 'del', 'dev', hostVeth]);
    if (hasNs) await ip(['netns', 'del', ns]);
    // On an OVS bridge that outlives the network (an operator's provider bridge) the row would stay.
    await forgetOvsPort(hostVeth);
    await rm(paths.dir, { recursive: true, force: true });
    // Supervision calls this every few seconds for networks without subnets: say only what happened.
    if (hasNs || hasVeth || pids.size > 0) log.info('DHCP deleted', { networkId });
  });
}

async function ensureNamespace(id: string): Promise<void> {
  const ns = dhcpNamespace(id);
  if (await namespaceExists(ns)) return;
  log.info('creating DHCP namespace', { networkId: id, namespace: ns });
  await ip(['netns', 'add', ns]);
}

/** The veth pair: host end plugged into the segment, namespace end up with the network's MTU; lo up too. */
async function ensureVeth(id: string, mtu: number, uplink: DhcpUplink): Promise<void> {
  const ns = dhcpNamespace(id);
  const hostName = dhcpHostVeth(id);
  const nsName = dhcpNsVeth(id);
  let host = await getRootLink(hostName);
  let links = await listLinks(ns);
  let inner = links.find((l) => l.ifname === nsName);
  // Veth ends live and die together; a lone end means a half-done earlier attempt. Start over.
  if (host && !inner) {
    log.warn('host end of DHCP veth has no peer in the namespace; recreating', { networkId: id });
    await ip(['link', 'del', 'dev', hostName]);
    host = null;
  } else if (!host && inner) {
    log.warn('namespace end of DHCP veth has no host end; recreating', { networkId: id });
    await ip(['link', 'del', 'dev', nsName], ns);
    inner = undefined;
  }
  const created = !host;
  if (!host) {
    log.info('creating DHCP veth', { networkId: id, host: hostName, namespaceEnd: nsName });
    const m = String(mtu);
    // The peer is created directly inside the namespace, so no half-moved state can be left behind.
    await ip([
      'link',
      'add',
      hostName,
      'mtu',
      m,
      'type',
      'veth',
      'peer',
      'name',
      nsName,
      'netns',
      ns,
      'mtu',
      m,
    ]);
    host = await getRootLink(hostName);
    links = await listLinks(ns);
    inner = links.find((l) => l.ifname === nsName);
    // A network's driver never changes, so the veth's offloads are set once, when it is made.
    if (uplink.softwareChecksums)
      await run('ip', ['netns', 'exec', ns, 'ethtool', '-K', nsName, 'tx', 'off']);
  }
  if (!host || !inner) throw new Error(`DHCP veth ${hostName}/${nsName} did not appear`);
  await disableIpv6(hostName);
  if (created || !(await uplink.isPlugged(host)) || host.mtu !== mtu || !isUp(host))
    await uplink.plug(hostName, mtu, created);
  const lo = links.find((l) => l.ifname === 'lo');
  if (lo && !isUp(lo)) await ip(['link', 'set', 'dev', 'lo', 'up'], ns);
  if (inner.mtu !== mtu || !isUp(inner))
    await ip(['link', 'set', 'dev', nsName, 'mtu', String(mtu), 'up'], ns);
}

/**
 * Exactly one address per subnet on the namespace end, each subnet's dhcpServerIp, plus the metadata
 * address (/32) when the spec has one.
 */
async function ensureAddresses(spec: DhcpSpec): Promise<void> {
  const ns = dhcpNamespace(spec.networkId);
  const dev = dhcpNsVeth(spec.networkId);
  const want = spec.subnets.map((s) => `${s.dhcpServerIp}/${parseCidr(s.cidr).prefix}`);
  if (spec.metadataAddress !== undefined) want.push(`${spec.metadataAddress}/32`);
  const have = await ipv4Addresses(dev, ns);
  for (const a of have) if (!want.includes(a)) await ip(['addr', 'del', a, 'dev', dev], ns);
  for (const a of want) if (!have.includes(a)) await ip(['addr', 'add', a, 'brd', '+', 'dev', dev], ns);
}

/** Pid of the dnsmasq recorded in the pid file, if it is alive and really ours. */
async function runningPid(paths: DhcpPaths): Promise<number | null> {
  const pid = await readPidFile(paths.pidFile);
  if (pid === null) return null;
  return isDnsmasqWith(await processArgv(pid), `--pid-file=${paths.pidFile}`) ? pid : null;
}

/**
 * Every dnsmasq serving this network's DHCP port, including strays whose pid file is lost or that another
 * state directory started: two would answer the same clients.
 */
async function ourDnsmasqPids(id: string, paths: DhcpPaths): Promise<number[]> {
  const pids = new Set(await findDnsmasq(`--interface=${dhcpNsVeth(id)}`));
  const recorded = await runningPid(paths);
  if (recorded !== null) pids.add(recorded);
  return [...pids];
}

async function prepareStateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  // We own `dhcp/` and `dhcp/<id>/`; make them readable by dnsmasq's unprivileged user whatever the umask.
  await chmod(dirname(dir), 0o755);
  await chmod(dir, 0o755);
  await assertTraversableByOthers(dir);
}

/** What a running dnsmasq needs to serve `spec`: the command line and the content of its files. */
function dnsmasqInputs(spec: DhcpSpec, paths: DhcpPaths) {
  const hosts = hostsFileText(spec.hosts);
  const opts = optsFileText(spec);
  const digest = createHash('sha256').update(hosts).update('\0').update(opts).digest('hex').slice(0, 16);
  return { args: dnsmasqArgs(spec, paths), hosts, opts, digest };
}

/**
 * The pid of the dnsmasq serving `spec` as it should (recorded, alive, in the network's namespace, with
 * the command line `args`), or null with the reason it must be (re)started.
 */
async function servingPid(
  spec: DhcpSpec,
  paths: DhcpPaths,
  args: readonly string[],
): Promise<{ pid: number } | { pid: null; why: string }> {
  const pid = await runningPid(paths);
  if (pid === null) return { pid: null, why: 'starting dnsmasq' };
  if (!(await inNamespace(pid, dhcpNamespace(spec.networkId))))
    return { pid: null, why: 'restarting dnsmasq: it runs in a namespace that was deleted' };
  const argv = (await processArgv(pid)) ?? [];
  if (argv.length !== args.length + 1 || !args.every((a, i) => argv[i + 1] === a))
    return { pid: null, why: 'restarting dnsmasq: its command line (subnets) changed' };
  return { pid };
}

/**
 * Brings the running dnsmasq `pid` to the hosts and options of `spec` without restarting it, as
 * Neutron's DHCP agent does: rewrites the files, releases leases that block a reassigned address with
 * `dhcp_release`, and sends SIGHUP. Returns false when a blocking lease could not be released (no
 * `dhcp_release` on the host, or dnsmasq kept the lease): the caller restarts dnsmasq then.
 */
async function reloadDnsmasq(spec: DhcpSpec, paths: DhcpPaths, pid: number): Promise<boolean> {
  const id = spec.networkId;
  const { hosts, opts, digest } = dnsmasqInputs(spec, paths);
  await writeIfChanged(paths.hostsFile, hosts);
  await writeIfChanged(paths.optsFile, opts);
  // Every lease of no configured host goes, as Neutron releases unused leases on each reload: a delete
  // frees its address at once, so a create reusing it rarely has one to release. Only a lease that still
  // blocks a configured address after that needs the restart.
  const unused = unusedLeases((await readIfExists(paths.leaseFile)) ?? '', spec.hosts);
  if (
    unused.length > 0 &&
    !(await releaseLeases(spec, paths, unused)) &&
    blockingLeases((await readIfExists(paths.leaseFile)) ?? '', spec.hosts).length > 0
  )
    return false;
  // The applied marker, not "did the file change", decides: a crash between writing and signalling
  // would otherwise leave dnsmasq on old data for good.
  if ((await readIfExists(paths.appliedFile)) === `${pid} ${digest}\n`) return true;
  sendSignal(pid, 'SIGHUP');
  await writeFileAtomic(paths.appliedFile, `${pid} ${digest}\n`, SHARED_FILE_MODE);
  log.info('dnsmasq reloaded hosts and options', { networkId: id, pid });
  return true;
}

/** How long dnsmasq gets to drop a released lease from its lease file. */
const RELEASE_WAIT_MS = 3000;

/**
 * Releases lease lines `lines` through `dhcp_release` in the network's namespace (all at once) and waits
 * until dnsmasq has dropped them from its lease file (matched by address and MAC: a renewal changes the
 * expiry). False when that did not happen (the tool is missing, or dnsmasq ignored the release within
 * {@link RELEASE_WAIT_MS}); the caller restarts dnsmasq when a lease that blocks a host is left.
 */
async function releaseLeases(spec: DhcpSpec, paths: DhcpPaths, lines: readonly string[]): Promise<boolean> {
  const id = spec.networkId;
  const released = lines.flatMap((line) => {
    const args = releaseArgs(id, line);
    return args ? [{ line, args }] : [];
  });
  // Each dhcp_release sends one DHCPRELEASE packet to dnsmasq; they do not depend on each other.
  const ok = await Promise.all(
    released.map(async ({ args }) => {
      try {
        await run('ip', ['netns', 'exec', dhcpNamespace(id), 'dhcp_release', ...args], {
          timeoutMs: 10_000,
        });
      } catch (e) {
        log.warn('dhcp_release failed', { networkId: id, error: (e as Error).message });
        return false;
      }
      log.info('released stale DHCP lease', { networkId: id, ip: args[1], mac: args[2] });
      return true;
    }),
  );
  if (ok.includes(false)) return false;
  const keys = new Set(released.map((r) => leaseLineKey(r.line)));
  const deadline = Date.now() + RELEASE_WAIT_MS;
  for (;;) {
    const left = ((await readIfExists(paths.leaseFile)) ?? '')
      .split('\n')
      .filter((l) => keys.has(leaseLineKey(l)));
    if (left.length === 0) return true;
    if (Date.now() >= deadline) {
      log.warn('dnsmasq kept released leases', { networkId: id, leases: left });
      return false;
    }
    await sleep(20);
  }
}

/**
 * Makes dnsmasq serve `spec`: a running one with the right command line is reloaded (SIGHUP, stale
 * leases released); a dead one, one stranded in a deleted namespace, or one whose subnets changed is
 * (re)started with the blocking leases pruned from its lease file.
 */
async function ensureDnsmasq(spec: DhcpSpec, paths: DhcpPaths): Promise<void> {
  const id = spec.networkId;
  await prepareStateDir(paths.dir);
  const { args, hosts, opts, digest } = dnsmasqInputs(spec, paths);
  const serving = await servingPid(spec, paths, args);
  if (serving.pid !== null) {
    if (await reloadDnsmasq(spec, paths, serving.pid)) return;
    log.info('restarting dnsmasq to drop leases of reassigned addresses', { networkId: id });
  } else if (serving.why.startsWith('restarting')) {
    log.warn(serving.why, { networkId: id });
  } else {
    log.info(serving.why, { networkId: id });
  }
  await writeIfChanged(paths.hostsFile, hosts);
  await writeIfChanged(paths.optsFile, opts);
  await terminate(await ourDnsmasqPids(id, paths));
  const leases = await readIfExists(paths.leaseFile);
  if (leases !== null) await writeIfChanged(paths.leaseFile, pruneLeases(leases, spec.hosts));
  await rm(paths.pidFile, { force: true });
  // dnsmasq forks, and its first process exits only once the daemon is serving (or with the startup error).
  await run('ip', ['netns', 'exec', dhcpNamespace(id), 'dnsmasq', ...args]);
  const started = await waitForPid(paths);
  await writeFileAtomic(paths.appliedFile, `${started} ${digest}\n`, SHARED_FILE_MODE);
  log.info('dnsmasq running', { networkId: id, pid: started });
}

async function waitForPid(paths: DhcpPaths): Promise<number> {
  for (let i = 0; i < 40; i++) {
    const pid = await runningPid(paths);
    if (pid !== null) return pid;
    await sleep(50);
  }
  const tail = ((await readIfExists(paths.logFile)) ?? '').split('\n').slice(-10).join('\n');
  throw new Error(`dnsmasq did not stay up; last lines of ${paths.logFile}:\n${tail}`);
}
