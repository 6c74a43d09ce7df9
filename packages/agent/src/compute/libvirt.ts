/**
 * The libvirt side of the compute driver: a few lazily opened `qemu:///system` connections and idempotent
 * operations on the domains of Stratus servers. Domains are found by name (`stratus-<server id>`, see
 * host/names.ts) and carry the server id in their `<metadata>`, so the agent can list what it owns.
 *
 * Callers serialize operations per server; a connection may be shared by concurrent calls. libvirtd
 * serves at most `max_client_requests` calls of one connection at once (5 by default, libvirtd.conf), so
 * with a single connection ten creates at once queued behind four domain starts of seconds each (seen in
 * bench/apply: the tenth domain defined 24 s after the others, when the first starts returned). Each
 * operation takes the least busy of {@link CONNECTIONS} connections, opened as concurrency needs them.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  type Domain,
  DomainGetXMLDescFlags,
  Hypervisor,
  DomainState as LibvirtDomainState,
} from '@unraid/libvirt';
import { Conflict, HostFailure, NotFound, Unavailable } from '../errors.js';
import { run } from '../host/exec.js';
import { logger } from '../host/log.js';
import { assertId, domainName, isResourceId } from '../host/names.js';
import { parseDomainFacts, serverIdFromXml } from './domain-facts.js';
import { buildDeviceXml, buildDomainXml, nvramPath, tpmStatePath } from './domain-xml.js';
import type { ComputeDriver, EnsureDomainResult, StopResult } from './driver.js';
import type { DomainDevice, DomainFacts, DomainSpec, DomainState } from './types.js';
import { xmlUnescape } from './xml.js';

const log = logger('libvirt');

export { serverIdFromXml } from './domain-facts.js';
export type { EnsureDomainAction, EnsureDomainResult, StopResult } from './driver.js';

/** A Stratus server's domain as found on this host. */
export interface StratusDomain {
  serverId: string;
  state: DomainState;
}

/** Options of {@link LibvirtCompute}. */
export interface LibvirtComputeOptions {
  /** libvirt connection URI (default `qemu:///system`). */
  uri?: string;
}

const NAME_PREFIX = 'stratus-';

// The binding passes on only libvirt's message text (its error code is always -1), so errors are told
// apart by libvirt's stable message prefixes.
const NOT_FOUND_RE = /Domain not found|no domain with matching/i;
const NOT_RUNNING_RE = /domain is not running|Requested operation is not valid: domain is not running/i;
const CONNECTION_RE =
  /End of file while reading data|Cannot write data|Cannot recv data|Broken pipe|client socket is closed|Connection reset by peer|invalid connection pointer|Failed to connect socket|not connected|no connection driver/i;
const NVRAM_RE = /nvram/i;

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Maps libvirt's numeric domain state onto the agent's {@link DomainState}. */
export function mapDomainState(state: number): DomainState {
  switch (state) {
    case LibvirtDomainState.RUNNING:
    case LibvirtDomainState.BLOCKED:
      return 'running';
    case LibvirtDomainState.PAUSED:
    case LibvirtDomainState.PMSUSPENDED:
      return 'paused';
    case LibvirtDomainState.SHUTOFF:
      return 'shutoff';
    case LibvirtDomainState.CRASHED:
      return 'crashed';
    default:
      return 'other';
  }
}

/** How many libvirt connections an agent opens at most (see the module comment). */
export const CONNECTIONS = 4;

/** One libvirt connection of the pool: opened on first use; `busy` counts the operations on it. */
interface Slot {
  conn: Promise<Hypervisor> | null;
  busy: number;
}

/** The libvirt {@link ComputeDriver}: a few connections, idempotent domain operations keyed by server id. */
export class LibvirtCompute implements ComputeDriver {
  readonly uri: string;
  private readonly slots: Slot[] = Array.from({ length: CONNECTIONS }, () => ({ conn: null, busy: 0 }));

  /** `opts` may also be just the connection URI. Nothing is opened until the first operation. */
  constructor(opts: LibvirtComputeOptions | string = {}) {
    this.uri = (typeof opts === 'string' ? opts : opts.uri) ?? 'qemu:///system';
  }

  /**
   * Makes the server's domain exist and run: defines it when absent, and (re)defines it from `spec` and
   * starts it when it is not running; resumes it when paused. A running domain is left alone, also when
   * `spec` changed: its new definition takes effect after it has stopped. A domain in a passing state
   * (shutting down) is left alone too (`unchanged`, state `other`): the next call starts it.
   */
  async ensureDomain(spec: DomainSpec): Promise<EnsureDomainResult> {
    const xml = buildDomainXml(spec);
    const want = spec.powerState ?? 'running';
    // virtlogd (root) writes the console log and libvirt copies the UEFI variable store, but neither
    // creates directories. 0711: QEMU's user must traverse to the variable store it opens (not list).
    await mkdir(dirname(spec.consoleLog), { recursive: true, mode: 0o711 });
    if (spec.firmware === 'uefi') await mkdir(dirname(nvramPath(spec)), { recursive: true, mode: 0o711 });
    const name = domainName(spec.serverId);
    if (want === 'shutoff') {
      // A clean shutdown first (it waits, outside the connection call), then the definition from spec.
      const stopped = await this.stopDomain(spec.serverId, spec.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS);
      return this.withConn(async (hv) => {
        let dom = await this.lookup(hv, spec.serverId);
        if (dom === null || !spec.adopted) dom = await hv.domainDefineXML(xml);
        return {
          action: stopped === 'already' ? 'unchanged' : 'stopped',
          state: mapDomainState((await hv.domainGetInfo(dom)).state),
        };
      });
    }
    return this.withConn(async (hv) => {
      const settle = async (
        dom: Domain,
        action: EnsureDomainResult['action'],
      ): Promise<EnsureDomainResult> => {
        let state = mapDomainState((await hv.domainGetInfo(dom)).state);
        if (want === 'paused' && state === 'running') {
          await hv.domainSuspend(dom);
          log.info('domain paused', { serverId: spec.serverId, name });
          state = mapDomainState((await hv.domainGetInfo(dom)).state);
          if (action === 'unchanged') action = 'paused';
        }
        return { action, state };
      };
      let dom = await this.lookup(hv, spec.serverId);
      if (dom === null) {
        dom = await hv.domainDefineXML(xml);
        log.info('domain defined', { serverId: spec.serverId, name });
        await hv.domainCreate(dom);
        log.info('domain started', { serverId: spec.serverId, name });
        return settle(dom, 'created');
      }
      const state = mapDomainState((await hv.domainGetInfo(dom)).state);
      // `other` is a domain on its way down (or in a transient state): the next reconcile starts it.
      if (spec.redefine && !spec.adopted && state === 'running') {
        await ignore(hv.domainDestroy(dom), NOT_RUNNING_RE);
        dom = await hv.domainDefineXML(xml);
        await hv.domainCreate(dom);
        log.info('domain redefined from spec and restarted', { serverId: spec.serverId, name });
        return settle(dom, 'started');
      }
      if (state === 'running' || state === 'other') return settle(dom, 'unchanged');
      if (state === 'paused') {
        if (want === 'paused') return { action: 'unchanged', state };
        await hv.domainResume(dom);
        log.info('domain resumed', { serverId: spec.serverId, name });
        return { action: 'resumed', state: mapDomainState((await hv.domainGetInfo(dom)).state) };
      }
      // An adopted domain keeps its own definition (made outside Stratus); ours are redefined from spec.
      if (!spec.adopted) dom = await hv.domainDefineXML(xml);
      await hv.domainCreate(dom);
      log.info('domain redefined and started', { serverId: spec.serverId, name, previous: state });
      return settle(dom, 'started');
    });
  }

  /**
   * Shuts the server's domain down as Nova's stop does (`_clean_shutdown` in nova/virt/libvirt/driver.py):
   * the ACPI power button (pressed again every 10 s, as a guest may miss the first while booting), then a
   * hard stop once `timeoutMs` has passed. A paused domain is stopped hard (a paused guest cannot react).
   */
  async stopDomain(serverId: string, timeoutMs: number): Promise<StopResult> {
    checkId(serverId);
    const stateNow = () => this.domainState(serverId);
    let state = await stateNow();
    if (state === 'absent' || state === 'shutoff' || state === 'crashed') return 'already';
    const deadline = Date.now() + timeoutMs;
    if (state !== 'paused') {
      let pressedAt = 0;
      while (Date.now() < deadline) {
        if (Date.now() - pressedAt >= 10_000) {
          await this.withConn(async (hv) => {
            const dom = await this.lookup(hv, serverId);
            if (dom) await ignore(hv.domainShutdown(dom), NOT_RUNNING_RE);
          });
          if (pressedAt === 0) log.info('domain shutdown requested (ACPI)', { serverId });
          pressedAt = Date.now();
        }
        await new Promise((r) => setTimeout(r, 500));
        state = await stateNow();
        if (state === 'absent' || state === 'shutoff') {
          log.info('domain shut down cleanly', { serverId });
          return 'clean';
        }
      }
    }
    await this.withConn(async (hv) => {
      const dom = await this.lookup(hv, serverId);
      if (dom) await ignore(hv.domainDestroy(dom), NOT_RUNNING_RE);
    });
    log.warn('domain stopped hard', {
      serverId,
      reason: state === 'paused' ? 'paused' : `no clean shutdown within ${timeoutMs} ms`,
    });
    return 'forced';
  }

  /** Presses `keys` together on the domain's keyboard (`virsh send-key --codeset linux`). */
  async sendKey(serverId: string, keys: readonly string[]): Promise<void> {
    checkId(serverId);
    for (const k of keys)
      if (!/^KEY_[A-Z0-9_]{1,24}$/.test(k)) throw new Error(`${k} is not a Linux key name`);
    try {
      await run('virsh', ['-c', this.uri, 'send-key', serverId, '--codeset', 'linux', ...keys]);
    } catch (e) {
      const msg = message(e);
      if (NOT_FOUND_RE.test(msg)) throw new NotFound(msg, { code: 'domain_not_found', cause: e });
      throw new HostFailure(msg, { code: 'libvirt_error', cause: e });
    }
  }

  /** Grows a disk of a running domain to `sizeBytes` (`virsh blockresize`: QEMU tells the guest at once). */
  async resizeDisk(serverId: string, target: string, sizeBytes: number): Promise<void> {
    checkId(serverId);
    if (!/^(vd|sd)[a-z]{1,2}$/.test(target)) throw new Error(`disk target ${target} is not a device name`);
    try {
      await run('virsh', ['-c', this.uri, 'blockresize', serverId, target, `${sizeBytes}B`]);
    } catch (e) {
      const msg = message(e);
      if (NOT_FOUND_RE.test(msg)) throw new NotFound(msg, { code: 'domain_not_found', cause: e });
      throw new HostFailure(msg, { code: 'libvirt_error', cause: e });
    }
    log.info('disk resized online', { serverId, target, sizeBytes });
  }

  /** The run state of the server's domain, `absent` when there is none. */
  async domainState(serverId: string): Promise<DomainState> {
    return this.withConn(async (hv) => {
      const dom = await this.lookup(hv, checkId(serverId));
      if (dom === null) return 'absent';
      try {
        return mapDomainState((await hv.domainGetInfo(dom)).state);
      } catch (e) {
        if (NOT_FOUND_RE.test(message(e))) return 'absent';
        throw e;
      }
    });
  }

  /** The live XML of the server's domain; throws `domain_not_found` when there is none. */
  async domainXml(serverId: string): Promise<string> {
    return this.withConn(async (hv) => {
      const dom = await this.lookup(hv, checkId(serverId));
      if (dom === null)
        throw new NotFound(`no libvirt domain with uuid ${serverId}`, { code: 'domain_not_found' });
      return hv.domainGetXMLDesc(dom);
    });
  }

  /**
   * Removes the server's domain: stops it hard when active, deletes its UEFI variable store, undefines
   * it and removes its TPM state. Returns whether there was a domain; calling it again is a no-op.
   */
  async deleteDomain(serverId: string): Promise<boolean> {
    return this.withConn(async (hv) => {
      const dom = await this.lookup(hv, checkId(serverId));
      if (dom === null) return false;
      const name = await hv.domainGetName(dom);
      let xml: string;
      try {
        xml = await hv.domainGetXMLDesc(dom, DomainGetXMLDescFlags.INACTIVE);
        const state = (await hv.domainGetInfo(dom)).state;
        if (state !== LibvirtDomainState.SHUTOFF) await ignore(hv.domainDestroy(dom), NOT_RUNNING_RE);
      } catch (e) {
        if (NOT_FOUND_RE.test(message(e))) return false; // a transient domain vanished when it stopped
        throw e;
      }
      // libvirt refuses a plain undefine while the variable store exists, and this binding cannot pass
      // VIR_DOMAIN_UNDEFINE_NVRAM, so the file goes first (its path is in the XML, from our own spec).
      const nvram = /<nvram\b[^>]*>([^<]+)<\/nvram>/.exec(xml)?.[1];
      if (nvram !== undefined) await rm(xmlUnescape(nvram), { force: true });
      try {
        await hv.domainUndefine(dom);
      } catch (e) {
        const msg = message(e);
        if (NOT_FOUND_RE.test(msg)) return true;
        if (!NVRAM_RE.test(msg)) throw e;
        await run('virsh', ['-c', this.uri, 'undefine', '--nvram', name]);
      }
      // libvirt removes the swtpm state on undefine (unless asked to keep it); this makes sure of it, so
      // a TPM never outlives its server (its keys, e.g. BitLocker's, must not reach a later server).
      if (/<tpm\b/.test(xml)) await rm(tpmStatePath(serverId), { recursive: true, force: true });
      log.info('domain deleted', { serverId, name });
      return true;
    });
  }

  /** Every domain on this host that belongs to a Stratus server, with its state. */
  async listStratusDomains(): Promise<StratusDomain[]> {
    return this.withConn(async (hv) => {
      const out: StratusDomain[] = [];
      for (const dom of await hv.connectListAllDomains()) {
        try {
          const name = await hv.domainGetName(dom);
          if (!name.startsWith(NAME_PREFIX)) continue;
          const fromName = name.slice(NAME_PREFIX.length);
          const serverId =
            serverIdFromXml(await hv.domainGetXMLDesc(dom)) ?? (isResourceId(fromName) ? fromName : null);
          if (serverId === null) {
            log.warn('domain with Stratus name but no server id ignored', { name });
            continue;
          }
          out.push({ serverId, state: mapDomainState((await hv.domainGetInfo(dom)).state) });
        } catch (e) {
          if (NOT_FOUND_RE.test(message(e))) continue; // undefined while we listed
          throw e;
        }
      }
      return out.sort((a, b) => a.serverId.localeCompare(b.serverId));
    });
  }

  /** Facts about a domain named `ref` (its name or UUID), for adopting it; throws `domain_not_found`. */
  async inspectDomain(ref: string): Promise<DomainFacts> {
    return this.withConn(async (hv) => {
      let dom: Domain | null;
      try {
        dom = isResourceId(ref.toLowerCase())
          ? await hv.domainLookupByUUIDString(ref.toLowerCase())
          : await hv.domainLookupByName(ref);
      } catch (e) {
        if (NOT_FOUND_RE.test(message(e))) dom = null;
        else throw e;
      }
      if (dom === null) throw new NotFound(`no libvirt domain named ${ref}`, { code: 'domain_not_found' });
      return parseDomainFacts(await hv.domainGetXMLDesc(dom, DomainGetXMLDescFlags.INACTIVE));
    });
  }

  attachDevice(serverId: string, device: DomainDevice): Promise<void> {
    return this.changeDevice('attach-device', serverId, device);
  }

  detachDevice(serverId: string, device: DomainDevice, timeoutMs = 60_000): Promise<void> {
    return this.changeDevice('detach-device', serverId, device, timeoutMs);
  }

  /**
   * Attaches or detaches a device with virsh (this libvirt binding has no device calls): `--config` always,
   * so the definition keeps the change, and `--live` too while the domain runs (libvirt's
   * VIR_DOMAIN_AFFECT_CONFIG | VIR_DOMAIN_AFFECT_LIVE). The device XML goes through a private temp file.
   */
  private async changeDevice(
    verb: 'attach-device' | 'detach-device',
    serverId: string,
    device: DomainDevice,
    timeoutMs = 60_000,
  ): Promise<void> {
    const xml = buildDeviceXml(device);
    const state = await this.domainState(checkId(serverId));
    if (state === 'absent')
      throw new NotFound(`no libvirt domain with uuid ${serverId}`, { code: 'domain_not_found' });
    const dir = await mkdtemp(join(tmpdir(), 'stratus-device-'));
    try {
      const file = join(dir, 'device.xml');
      await writeFile(file, xml, { mode: 0o600 });
      const live = state === 'running' || state === 'paused';
      const flags = live ? ['--config', '--live'] : ['--config'];
      // A live detach is a request to the guest; libvirt's device-removed event says it let go.
      const removal =
        verb === 'detach-device' && live && device.kind === 'disk' && device.alias
          ? this.watchRemoval(serverId, device.alias, device.target, timeoutMs)
          : null;
      try {
        await removal?.ready;
        await run('virsh', ['-c', this.uri, verb, serverId, file, ...flags]);
        await removal?.done;
      } catch (e) {
        if (AgentErrorLike(e)) throw e;
        const msg = message(e);
        if (NOT_FOUND_RE.test(msg)) throw new NotFound(msg, { code: 'domain_not_found', cause: e });
        throw new HostFailure(msg, { code: 'libvirt_error', cause: e });
      } finally {
        removal?.stop();
      }
      log.info(verb === 'attach-device' ? 'device attached' : 'device detached', {
        serverId,
        device: device.kind,
        live: flags.includes('--live'),
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * Waits for the device-removed event of the device with user alias `alias` (through `virsh event`,
   * started before the detach request), checking the live definition every 2 s as well, since an event
   * that came before the listener was registered is not repeated. Rejects with Conflict `detach_timeout`
   * after `timeoutMs`.
   */
  private watchRemoval(
    serverId: string,
    alias: string,
    target: string,
    timeoutMs: number,
  ): { ready: Promise<void>; done: Promise<void>; stop: () => void } {
    const seconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
    const args = [
      '-c',
      this.uri,
      'event',
      '--domain',
      serverId,
      '--event',
      'device-removed',
      '--loop',
      '--timeout',
      seconds,
    ];
    log.debug('run', { command: 'virsh', args });
    const child = spawn('virsh', args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const stop = () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      child.kill('SIGKILL');
    };
    const done = new Promise<void>((resolve, reject) => {
      let out = '';
      const gone = () => {
        log.info('device removed by the guest', { serverId, alias });
        resolve();
      };
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString('utf8');
        if (out.includes(alias)) gone();
      });
      const deadline = Date.now() + timeoutMs;
      const poll = async () => {
        if (stopped) return;
        try {
          const xml = await this.domainXml(serverId);
          if (!xml.includes(`dev='${target}'`) && !xml.includes(`dev="${target}"`)) return gone();
        } catch (e) {
          if (NotFound.isInstance(e)) return gone();
        }
        if (Date.now() > deadline)
          return reject(
            new Conflict(
              `the guest did not release disk ${target} within ${Math.round(timeoutMs / 1000)} s (no device-removed event); it stays attached until it does`,
              { code: 'detach_timeout' },
            ),
          );
        timer = setTimeout(poll, 2000);
      };
      timer = setTimeout(poll, 2000);
    });
    // virsh registers its callback before it waits; a short grace lets it, and the poll covers a miss.
    const ready = new Promise<void>((r) => setTimeout(r, 300));
    return { ready, done, stop };
  }

  /** Closes the connections; the next operation opens a new one. */
  async close(): Promise<void> {
    for (const slot of this.slots) {
      const conn = slot.conn;
      slot.conn = null;
      if (conn === null) continue;
      try {
        await (await conn).connectClose();
      } catch {
        // Nothing to do: the connection is gone either way.
      }
    }
  }

  /**
   * The domain whose UUID is the server id. By UUID, not name: Stratus' own domains are named after the
   * id, but an adopted (imported) one keeps the name it was given outside Stratus.
   */
  private async lookup(hv: Hypervisor, serverId: string): Promise<Domain | null> {
    try {
      return await hv.domainLookupByUUIDString(serverId);
    } catch (e) {
      if (NOT_FOUND_RE.test(message(e))) return null;
      throw e;
    }
  }

  private connect(slot: Slot): Promise<Hypervisor> {
    if (slot.conn === null) {
      const hv = new Hypervisor({ uri: this.uri });
      const opening = hv.connectOpen().then(
        () => {
          log.debug('connected', { uri: this.uri, connection: this.slots.indexOf(slot) });
          return hv;
        },
        (e: unknown) => {
          // Forget the failed attempt so the next call tries again (calling into a never-opened
          // Hypervisor would dereference a null connection).
          if (slot.conn === opening) slot.conn = null;
          throw new Unavailable(`cannot connect to ${this.uri}: ${message(e)}`, {
            code: 'libvirt_unavailable',
            cause: e,
          });
        },
      );
      slot.conn = opening;
    }
    return slot.conn;
  }

  /** The least busy connection slot (the first of equals, so an agent doing one thing at a time opens one). */
  private pick(): Slot {
    let best = this.slots[0]!;
    for (const s of this.slots) if (s.busy < best.busy) best = s;
    return best;
  }

  /**
   * Runs `fn` on the least busy connection. When it fails because the connection broke (libvirtd
   * restarted), the connection is reopened and `fn` retried once; libvirt errors become domain errors
   * (NotFound `domain_not_found`, Unavailable `libvirt_unavailable`, HostFailure `libvirt_error`).
   */
  private async withConn<T>(fn: (hv: Hypervisor) => Promise<T>): Promise<T> {
    const slot = this.pick();
    slot.busy++;
    try {
      for (let attempt = 0; ; attempt++) {
        const conn = this.connect(slot);
        const hv = await conn;
        try {
          return await fn(hv);
        } catch (e) {
          if (NotFound.isInstance(e) || Unavailable.isInstance(e) || HostFailure.isInstance(e)) throw e;
          const msg = message(e);
          if (CONNECTION_RE.test(msg)) {
            log.warn('libvirt connection lost', { uri: this.uri, error: msg, attempt });
            // Dropped, not closed: concurrent calls may still hold the old handle, and closing it under
            // them could free it. A broken connection holds no resources worth a crash.
            if (slot.conn === conn) slot.conn = null;
            if (attempt === 0) continue;
            throw new Unavailable(`libvirt connection lost: ${msg}`, {
              code: 'libvirt_unavailable',
              cause: e,
            });
          }
          if (NOT_FOUND_RE.test(msg)) throw new NotFound(msg, { code: 'domain_not_found', cause: e });
          throw new HostFailure(msg, { code: 'libvirt_error', cause: e });
        }
      }
    } finally {
      slot.busy--;
    }
  }
}

/** How long a shutoff waits for the guest's clean shutdown before stopping it hard (Nova's default 60 s). */
export const DEFAULT_STOP_TIMEOUT_MS = 60_000;

function AgentErrorLike(e: unknown): boolean {
  return Conflict.isInstance(e) || NotFound.isInstance(e) || HostFailure.isInstance(e);
}

function checkId(serverId: string): string {
  assertId(serverId);
  return serverId;
}

async function ignore(p: Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!re.test(message(e))) throw e;
  }
}
