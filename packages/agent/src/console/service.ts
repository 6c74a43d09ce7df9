/**
 * Server consoles (Nova's `os-consoles` / remote consoles): the serial log a client follows, the serial
 * port itself for an interactive session (the pty libvirt allocated, as `virsh console` opens it), and
 * short-lived tokens for VNC sessions, which {@link ConsoleWeb} checks before serving noVNC and
 * proxying its websocket to the domain's VNC socket (as nova-novncproxy checks console auth tokens).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, constants, openSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { ReadStream, WriteStream } from 'node:tty';
import type { ComputeDriver } from '../compute/driver.js';
import { Conflict, InvalidRequest, NotFound } from '../errors.js';
import { logger } from '../host/log.js';
import { isResourceId } from '../host/names.js';
import { serialPty, vncSocket } from './devices.js';

const log = logger('console');

/** Default and largest lifetime of a VNC console token, in seconds (Nova's default token TTL is 600 s). */
export const VNC_TOKEN_TTL = { default: 300, max: 3600 } as const;

interface VncGrant {
  serverId: string;
  expiresAt: number;
}

/** An open interactive serial session: bytes from the guest, and a way to send and to close. */
export interface SerialSession {
  output: ReadStream;
  input: WriteStream;
  close(): void;
}

/** The consoles of this agent's servers. */
export class ConsoleService {
  private readonly grants = new Map<string, VncGrant>();

  constructor(
    private readonly compute: ComputeDriver,
    /** The console log file of a server (null when there is no such server). */
    private readonly consoleLog: (serverId: string) => Promise<string | null>,
  ) {}

  private async logPath(serverId: string): Promise<string> {
    if (!isResourceId(serverId)) throw new InvalidRequest(`server id ${serverId} is not a resource id`);
    const p = await this.consoleLog(serverId);
    if (!p) throw new NotFound(`server ${serverId} not found`);
    return p;
  }

  /**
   * The server's serial console log from its start (or its last `tail` lines), then, with `follow`,
   * what the guest writes after, until `signal` aborts. Yields raw bytes.
   */
  async *log(
    serverId: string,
    opts: { follow: boolean; tail?: number; signal: AbortSignal },
  ): AsyncGenerator<Buffer> {
    const path = await this.logPath(serverId);
    let pos = 0;
    if (opts.tail !== undefined) {
      const size = (await stat(path).catch(() => ({ size: 0 }))).size;
      const from = Math.max(0, size - 256 * 1024);
      const text = await readRange(path, from, size);
      const lines = text.toString('latin1').split('\n');
      const keep = lines.slice(Math.max(0, lines.length - 1 - opts.tail)).join('\n');
      pos = size - Buffer.byteLength(keep, 'latin1');
    }
    for (;;) {
      const size = (await stat(path).catch(() => ({ size: 0 }))).size;
      // virtlogd rotates at its size limit: a shorter file is a new one.
      if (size < pos) pos = 0;
      if (size > pos) {
        yield await readRange(path, pos, size);
        pos = size;
      }
      if (!opts.follow || opts.signal.aborted) return;
      await new Promise<void>((r) => {
        const t = setTimeout(r, 300);
        opts.signal.addEventListener(
          'abort',
          () => {
            clearTimeout(t);
            r();
          },
          { once: true },
        );
      });
      if (opts.signal.aborted) return;
    }
  }

  /**
   * Opens the serial port of a running server for an interactive session: the pty libvirt allocated for
   * it, in raw mode (as libvirt's own console streams set it), read and written by the caller.
   * `console_unavailable` when the server does not run.
   */
  async openSerial(serverId: string): Promise<SerialSession> {
    await this.logPath(serverId);
    const pty = serialPty(await this.domainXml(serverId), serverId);
    // Two descriptors: libuv keeps one tty handle per descriptor, one to read and one to write.
    const flags = constants.O_RDWR | constants.O_NOCTTY;
    // Plain descriptors, owned by the tty streams from here on (a FileHandle would close its descriptor
    // when garbage-collected, under the stream).
    const r = openSync(pty, flags);
    let w: number;
    try {
      w = openSync(pty, flags);
    } catch (e) {
      closeSync(r);
      throw e;
    }
    const output = new ReadStream(r);
    output.setRawMode(true);
    const input = new WriteStream(w);
    log.info('serial console attached', { serverId, pty });
    let closed = false;
    return {
      output,
      input,
      close() {
        if (closed) return;
        closed = true;
        output.destroy();
        input.destroy();
        log.info('serial console detached', { serverId });
      },
    };
  }

  private async domainXml(serverId: string): Promise<string> {
    if (!this.compute.domainXml)
      throw new Conflict('this compute driver has no consoles', { code: 'console_unavailable' });
    try {
      return await this.compute.domainXml(serverId);
    } catch (e) {
      if (NotFound.isInstance(e))
        throw new Conflict(`server ${serverId} has no running domain`, {
          code: 'console_unavailable',
          cause: e,
        });
      throw e;
    }
  }

  /**
   * Issues a VNC console token for a server whose domain has a VNC display, valid `ttlSeconds` for new
   * connections (sessions already open continue). Answers the token and when it expires.
   */
  async issueVnc(
    serverId: string,
    ttlSeconds: number = VNC_TOKEN_TTL.default,
  ): Promise<{ token: string; expiresAt: Date }> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > VNC_TOKEN_TTL.max)
      throw new InvalidRequest(`ttlSeconds must be an integer from 1 to ${VNC_TOKEN_TTL.max}`, {
        field: ['ttlSeconds'],
      });
    await this.logPath(serverId);
    vncSocket(await this.domainXml(serverId), serverId);
    this.prune();
    const token = randomBytes(24).toString('base64url');
    const expiresAt = Date.now() + ttlSeconds * 1000;
    this.grants.set(token, { serverId, expiresAt });
    log.info('vnc console token issued', { serverId, expiresAt: new Date(expiresAt).toISOString() });
    return { token, expiresAt: new Date(expiresAt) };
  }

  /**
   * The server a VNC token grants, or why not: `unknown` (never issued, or mistyped) or `expired`.
   * Compared in constant time against each live token.
   */
  checkVnc(token: string): { serverId: string } | { refused: 'unknown' | 'expired' } {
    const given = Buffer.from(token);
    for (const [t, g] of this.grants) {
      const mine = Buffer.from(t);
      if (mine.length !== given.length || !timingSafeEqual(mine, given)) continue;
      return g.expiresAt > Date.now() ? { serverId: g.serverId } : { refused: 'expired' };
    }
    return { refused: 'unknown' };
  }

  /** The VNC socket of a server's running domain. */
  async vncSocketOf(serverId: string): Promise<string> {
    return vncSocket(await this.domainXml(serverId), serverId);
  }

  /** Forgets tokens expired more than a minute ago (kept that long to say "expired" rather than "unknown"). */
  private prune(): void {
    const now = Date.now();
    for (const [t, g] of this.grants) if (g.expiresAt + 60_000 < now) this.grants.delete(t);
  }
}

async function readRange(path: string, from: number, to: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(to - from);
    const { bytesRead } = await fh.read(buf, 0, buf.length, from);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
