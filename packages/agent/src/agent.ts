import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { ApiHostInfo } from '@stratus/model';
import { sweepTempSiblings } from '@stratus/util';
import { type ApiDeps, createApiServer } from './api/server.js';
import { LibvirtCompute } from './compute/libvirt.js';
import type { VirtType } from './compute/types.js';
import { ConsoleService } from './console/service.js';
import { ConsoleWeb } from './console/web.js';
import { logger } from './host/log.js';
import { KeyedMutex } from './host/mutex.js';
import { stopNftWatch } from './host/nft.js';
import { probeVirtType } from './host/probe.js';
import { InstanceDirPasswords } from './metadata/password.js';
import { MetadataService } from './metadata/service.js';
import { DnsmasqDhcp } from './network/dhcp/index.js';
import type { NetworkDriverKind } from './network/driver.js';
import { LinuxBridgeDriver } from './network/linuxbridge/driver.js';
import { OvsDriver } from './network/ovs/driver.js';
import { detectDatapath, type OvsDatapath } from './network/ovs/vsctl.js';
import { type AgentContext, createServices, paths, RecordStore } from './services/index.js';
import { resolveInstance } from './services/instance-metadata.js';
import { migrateRecords } from './services/migrate.js';
import type { NetworkService } from './services/network.js';
import type { ServerRecord } from './services/records.js';
import { groupId } from './storage/files.js';
import { DEFAULT_UPLOAD_LEASE_MS, QemuImgStorage } from './storage/qemu-img.js';
import { ImageSources } from './storage/sources.js';

const log = logger('agent');

/** How to run an agent. */
export interface AgentOptions {
  stateDir: string;
  socket: string;
  /** Also listen on TCP `host:port`: HTTPS with `tls`; plain HTTP only on a loopback address. */
  listen?: string;
  /** PEM certificate and key files for the TCP listener. */
  tls?: { certFile: string; keyFile: string };
  virtType: 'auto' | VirtType;
  /** The name this host goes by in API answers (records' `host`, `GET /v1/host`); default `local`. */
  host?: string;
  libvirtUri: string;
  /** How often dnsmasq and bridges are checked and revived, in ms. */
  superviseEveryMs?: number;
  /**
   * Directories whose files clients may name as image sources for the agent to read (default none:
   * clients upload image data). Symlinks are resolved before the check.
   */
  allowImageDirs?: string[];
  /** Group that may read cached images besides root: the hypervisor's (default `libvirt-qemu`). */
  hypervisorGroup?: string;
  /** Driver of networks that name none (default `linuxbridge`). */
  networkDriver?: NetworkDriverKind;
  /** Datapath of Open vSwitch bridges; `auto` (default) detects the kernel module. */
  ovsDatapath?: 'auto' | OvsDatapath;
  /**
   * How long an image upload waits for the create that names it before it is removed, in ms (default
   * {@link DEFAULT_UPLOAD_LEASE_MS}); checked every `superviseEveryMs`.
   */
  uploadLeaseMs?: number;
}

/** Reads the bearer token, creating it (mode 0600) on first start. */
async function loadToken(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const token = randomBytes(32).toString('hex');
  await writeFile(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  return token;
}

/** Claims the state dir for this process: one agent per state dir, or records would race. */
async function claimStateDir(stateDir: string): Promise<void> {
  const pidFile = join(stateDir, 'agent.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(pidFile, `${process.pid}\n`, { flag: 'wx', mode: 0o644 });
      process.on('exit', () => {
        try {
          rmSync(pidFile, { force: true });
        } catch {
          // Exiting anyway.
        }
      });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const other = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
    let alive = false;
    try {
      alive = Number.isInteger(other) && other > 0 && process.kill(other, 0);
    } catch {
      alive = false;
    }
    if (alive) throw new Error(`another stratus-agent (pid ${other}) already serves ${stateDir}`);
    await rm(pidFile, { force: true });
  }
  throw new Error(`cannot claim ${stateDir}`);
}

/** A running stratus-agent. */
export class StratusAgent {
  private servers: Server[] = [];
  private consoleUrl?: Promise<string>;
  private timer?: NodeJS.Timeout;
  private ctx?: AgentContext;
  private networks?: NetworkService;
  private metadata?: MetadataService;

  constructor(readonly opts: AgentOptions) {}

  async start(): Promise<void> {
    const { stateDir } = this.opts;
    await mkdir(stateDir, { recursive: true, mode: 0o711 });
    // libvirt's qemu user must reach disks below the state dir.
    await chmod(stateDir, 0o711);
    await claimStateDir(stateDir);
    const token = await loadToken(join(stateDir, 'token'));
    const probe = await probeVirtType(this.opts.virtType);
    const ovsDatapath =
      !this.opts.ovsDatapath || this.opts.ovsDatapath === 'auto'
        ? await detectDatapath()
        : this.opts.ovsDatapath;
    log.info('hypervisor chosen', { virtType: probe.virtType, reason: probe.reason });
    log.info('network drivers', { default: this.opts.networkDriver ?? 'linuxbridge', ovsDatapath });
    // Instances are found in the records when a request comes (ctx is complete by then).
    const passwords = new InstanceDirPasswords((id) => paths.instance(ctx, id));
    const metadata = new MetadataService((owner, ip) => resolveInstance(ctx, owner, ip), passwords);
    this.metadata = metadata;
    const ctx: AgentContext = {
      stateDir,
      host: this.opts.host ?? 'local',
      store: new RecordStore(join(stateDir, 'records')),
      locks: new KeyedMutex(),
      compute: new LibvirtCompute(this.opts.libvirtUri),
      storage: new QemuImgStorage(paths.images(stateDir), {
        owner: { gid: await groupId(this.opts.hypervisorGroup ?? 'libvirt-qemu') },
        sources: await ImageSources.create(this.opts.allowImageDirs ?? []),
      }),
      networkDrivers: { linuxbridge: new LinuxBridgeDriver(), ovs: new OvsDriver(ovsDatapath) },
      defaultNetworkDriver: this.opts.networkDriver ?? 'linuxbridge',
      dhcp: new DnsmasqDhcp(stateDir),
      metadata,
      virtType: probe.virtType,
    };
    this.ctx = ctx;
    // Writes a killed agent left half-done (records, DHCP files, instance disks and drives, volumes): this agent
    // claimed the state dir, so their writers are all dead. Image temporaries are the storage's to roll
    // back, below.
    for (const dir of ['records', 'dhcp', 'instances', 'volumes']) {
      const swept = await sweepTempSiblings(join(stateDir, dir), () => true);
      if (swept.length) log.info('removed temporaries of an interrupted write', { files: swept });
    }
    // Before anything reads records: an older agent's records are brought to this one's shape.
    await migrateRecords(ctx.store);
    // An import a killed agent left half-done is rolled back: temporaries, uploads, and cached copies
    // whose record was never saved (unless a server's disk backs onto them).
    const images = new Set((await ctx.store.list('images')).map((r) => r.id));
    for (const s of await ctx.store.list<ServerRecord>('servers'))
      for (const i of [s.spec.image, s.spec.installMedia, s.spec.driverMedia]) if (i) images.add(i);
    await ctx.storage.recover((id) => images.has(id));
    const { services, networks, firewalls } = createServices(ctx);
    this.networks = networks;
    await this.supervise();
    // Port firewalls are kernel state: a host reboot loses them. Loaded before any request is served.
    await firewalls.syncAll();
    const hostInfo = async (): Promise<ApiHostInfo> => ({
      host: ctx.host,
      hostname: hostname(),
      virtType: probe.virtType,
      virtReason: probe.reason,
      libvirtUri: this.opts.libvirtUri,
      stateDir,
      pid: process.pid,
      memory: (({ rss, heapUsed, heapTotal, external, arrayBuffers }) => ({
        rss,
        heapUsed,
        heapTotal,
        external,
        arrayBuffers,
      }))(process.memoryUsage()),
    });
    const consoles = new ConsoleService(ctx.compute, async (id) => {
      const rec = await ctx.store.get<ServerRecord>('servers', id);
      return rec ? join(paths.instance(ctx, id), 'console.log') : null;
    });
    const web = new ConsoleWeb(consoles);
    const consoleDeps: ApiDeps['console'] = {
      consoles,
      web,
      consoleBase: () => this.consoleBase({ token, services, hostInfo, console: consoleDeps }),
    };
    const make = () => createApiServer({ token, services, hostInfo, console: consoleDeps, passwords });

    await mkdir(dirname(this.opts.socket), { recursive: true, mode: 0o755 });
    await rm(this.opts.socket, { force: true });
    const unix = make();
    // bind() creates the socket file with the process umask: made owner-only there, it is never open to
    // others, not even for the moment between the bind and the chmod below (a test under load saw that
    // moment). The bind is synchronous within listen(), so the umask is back before any other code runs.
    await new Promise<void>((resolve, reject) => {
      const umask = process.umask(0o077);
      try {
        unix.once('error', reject).listen(this.opts.socket, resolve);
      } finally {
        process.umask(umask);
      }
    });
    await chmod(this.opts.socket, 0o600);
    this.servers.push(unix);
    log.info('listening', { socket: this.opts.socket });
    if (this.opts.listen) {
      const m = /^(.*):(\d+)$/.exec(this.opts.listen);
      if (!m) throw new Error(`--listen must be host:port, got ${this.opts.listen}`);
      const loopback = /^(127\.\d+\.\d+\.\d+|localhost|\[?::1\]?)$/.test(m[1]!);
      // The bearer token must not cross a network in clear text.
      if (!this.opts.tls && !loopback)
        throw new Error(`--listen ${this.opts.listen} is not loopback: give --tls-cert and --tls-key`);
      const tls = this.opts.tls && {
        cert: await readFile(this.opts.tls.certFile),
        key: await readFile(this.opts.tls.keyFile),
      };
      const tcp = createApiServer({ token, services, hostInfo, console: consoleDeps, passwords }, tls);
      await new Promise<void>((resolve, reject) =>
        tcp.once('error', reject).listen(Number(m[2]), m[1], resolve),
      );
      this.servers.push(tcp);
      // VNC console links point at this listener (browsers reach it; TLS when it has TLS).
      const host = m[1]!.includes(':') && !m[1]!.startsWith('[') ? `[${m[1]}]` : m[1]!;
      this.consoleUrl = Promise.resolve(
        `${tls ? 'https' : 'http'}://${host}:${(tcp.address() as AddressInfo).port}`,
      );
      log.info('listening', { tcp: this.opts.listen, tls: tls !== undefined });
    }
    this.timer = setInterval(() => void this.supervise(), this.opts.superviseEveryMs ?? 10_000);
    this.timer.unref();
  }

  /**
   * The base URL of VNC console links: the TCP listener (`--listen`) when there is one, else a listener
   * on a free loopback port started on first use, serving only the console endpoint (plain HTTP, which
   * never leaves the host).
   */
  private consoleBase(deps: ApiDeps): Promise<string> {
    this.consoleUrl ??= (async () => {
      const server = createApiServer({ ...deps, token: randomBytes(32).toString('hex') });
      await new Promise<void>((resolve, reject) =>
        server.once('error', reject).listen(0, '127.0.0.1', resolve),
      );
      this.servers.push(server);
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      log.info('console listener started', { url });
      return url;
    })();
    return this.consoleUrl;
  }

  /**
   * Brings every network's DHCP server back if it went away (crash, kill, agent restart), and removes
   * image uploads whose lease ran out (a client killed between its upload and its create).
   */
  private async supervise(): Promise<void> {
    const ctx = this.ctx!;
    await ctx.storage
      .sweepUploads(this.opts.uploadLeaseMs ?? DEFAULT_UPLOAD_LEASE_MS)
      .catch((e: unknown) => log.warn('upload sweep failed', { error: (e as Error).message }));
    for (const net of await ctx.store.list('networks')) {
      try {
        await this.networks!.supervise(net.id);
      } catch (e) {
        log.warn('network supervision failed', { network: net.id, error: (e as Error).message });
      }
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(r))));
    await this.metadata?.stop();
    await this.ctx?.compute.close();
    // The ruleset watch is the process's (host/nft.ts); another agent in it starts it again if it reads.
    stopNftWatch();
  }
}
