/**
 * The metadata service at 169.254.169.254:80: one HTTP handler in the agent, reached from each namespace
 * that serves metadata through a socket made inside it ({@link listenInNamespace}). Today that is every
 * network's DHCP namespace (`qdhcp-<id>`), for isolated networks as Neutron's DHCP agent does
 * (`enable_isolated_metadata`: the metadata address on the DHCP port, a route to it pushed with DHCP
 * option 121). The seam for routers: a router's namespace is one more {@link MetadataScope} (`owner`
 * names the router), and the resolver maps a source address on any of its networks to the instance.
 *
 * An instance is identified by its scope (which namespace the connection arrived in: a network) and the
 * connection's source address, never by anything in the request (Nova's `X-Instance-ID` headers and
 * the like are ignored): on one network an address belongs to one port. That a guest cannot send from
 * another port's address is the port firewall's anti-spoofing (security groups); without it, a guest
 * that takes a neighbour's address can read that neighbour's metadata, as with Neutron when port
 * security is off.
 */
import {
  createServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';
import type { ConfigDriveContent } from '../configdrive/index.js';
import { logger } from '../host/log.js';
import { MetadataTree } from './documents.js';
import { listenInNamespace, type NetnsListener, netnsInode } from './netns-socket.js';
import { handlePassword, isPasswordPath, PASSWORD_MAX_BYTES, type PasswordStore } from './password.js';

const log = logger('metadata');

/** The metadata address guests reach (link-local, as in EC2 and OpenStack). */
export const METADATA_ADDRESS = '169.254.169.254';
/** The metadata port. */
export const METADATA_PORT = 80;

/** Where an instance's request came through: a network's DHCP namespace (a router's, later). */
export type MetadataOwner = { network: string } | { router: string };

/** A namespace that serves metadata, and whom its connections come from. */
export interface MetadataScope {
  /** Stable key of the scope, e.g. `network:<id>`. */
  key: string;
  /** The namespace the socket is made in (`qdhcp-<network id>`). */
  namespace: string;
  owner: MetadataOwner;
}

/**
 * Finds the documents of the instance that sent from `sourceIp` through `owner`, or null when no
 * instance there has that address.
 */
export type InstanceResolver = (owner: MetadataOwner, sourceIp: string) => Promise<ConfigDriveContent | null>;

interface Listening {
  scope: MetadataScope;
  listener: NetnsListener;
  sockets: Set<Socket>;
}

/** The agent's metadata service: its listeners by scope, and the HTTP handler they share. */
export class MetadataService {
  private readonly listening = new Map<string, Listening>();
  /** Ensures in progress, so concurrent calls for one scope share one. */
  private readonly pending = new Map<string, Promise<void>>();
  private readonly http: HttpServer;

  /**
   * `resolve` finds the instance behind a connection; `passwords` keeps the password each instance posts
   * (see password.ts); without it the password path is 404, as on a metadata service that has none.
   */
  constructor(
    private readonly resolve: InstanceResolver,
    private readonly passwords?: PasswordStore,
  ) {
    this.http = createServer((req, res) => {
      const scope = (req.socket as Socket & { scope?: MetadataScope }).scope;
      void this.answer(scope, req, res);
    });
    // Guests are clients of their own: keep nothing open for long.
    this.http.keepAliveTimeout = 5_000;
    this.http.requestTimeout = 30_000;
  }

  /**
   * Serves metadata in `scope`'s namespace (which must exist and hold {@link METADATA_ADDRESS}): makes
   * the socket when there is none, or when the namespace was replaced since (the old socket is closed,
   * which lets the old namespace go). Idempotent and cheap when nothing changed (one stat).
   */
  ensure(scope: MetadataScope): Promise<void> {
    const running = this.pending.get(scope.key);
    if (running) return running;
    const p = this.ensureNow(scope).finally(() => this.pending.delete(scope.key));
    this.pending.set(scope.key, p);
    return p;
  }

  private async ensureNow(scope: MetadataScope): Promise<void> {
    const current = await netnsInode(scope.namespace);
    if (current === null) throw new Error(`namespace ${scope.namespace} does not exist`);
    const have = this.listening.get(scope.key);
    if (have && have.listener.netns === current && have.listener.server.listening) return;
    if (have) {
      log.warn('metadata socket is in a namespace that was replaced; making it anew', {
        scope: scope.key,
        namespace: scope.namespace,
      });
      this.close(have);
    }
    const listener = await listenInNamespace(scope.namespace, METADATA_ADDRESS, METADATA_PORT);
    const entry: Listening = { scope, listener, sockets: new Set() };
    listener.server.on('connection', (socket: Socket & { scope?: MetadataScope }) => {
      socket.scope = scope;
      entry.sockets.add(socket);
      socket.once('close', () => entry.sockets.delete(socket));
      this.http.emit('connection', socket);
    });
    listener.server.on('error', (e) =>
      log.warn('metadata socket failed', { scope: scope.key, error: e.message }),
    );
    this.listening.set(scope.key, entry);
    log.info('metadata service listening', {
      scope: scope.key,
      namespace: scope.namespace,
      address: `${METADATA_ADDRESS}:${METADATA_PORT}`,
    });
  }

  /**
   * Stops serving metadata in scope `key`: closes its socket and its connections, so nothing of the
   * agent holds the namespace any more. Call before deleting the namespace. Succeeds when there is none.
   */
  async delete(key: string): Promise<void> {
    await this.pending.get(key)?.catch(() => {});
    const have = this.listening.get(key);
    if (!have) return;
    this.close(have);
    log.info('metadata service stopped', { scope: key });
  }

  /** Keys of the scopes served now. */
  scopes(): string[] {
    return [...this.listening.keys()];
  }

  /** Closes every socket (agent stop). */
  async stop(): Promise<void> {
    for (const key of [...this.listening.keys()]) await this.delete(key);
  }

  private close(l: Listening): void {
    l.listener.server.close();
    for (const s of l.sockets) s.destroy();
    this.listening.delete(l.scope.key);
  }

  private async answer(
    scope: MetadataScope | undefined,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const source = req.socket.remoteAddress ?? '';
    try {
      const path = new URL(req.url ?? '/', 'http://metadata').pathname;
      let decoded: string | null;
      try {
        decoded = decodeURIComponent(path);
      } catch {
        decoded = null;
      }
      const parts = (decoded ?? '').split('/').filter((p) => p !== '');
      if (decoded !== null && isPasswordPath(parts)) {
        await this.password(scope, source, path, req, res);
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { 'content-type': 'text/plain; charset=utf-8', allow: 'GET, HEAD' });
        res.end('405 Method Not Allowed\n');
        return;
      }
      const content = scope ? await this.resolve(scope.owner, source.replace(/^::ffff:/, '')) : null;
      const r = content && decoded !== null ? new MetadataTree(content).get(decoded) : null;
      const status = r?.status ?? 404;
      const body = r?.body ?? '404 Not Found\n';
      res.writeHead(status, {
        'content-type': r?.contentType ?? 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(body),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      // Paths and addresses only: the documents may hold secrets (user data).
      log.debug('metadata request', { scope: scope?.key, source, path, status, known: content !== null });
    } catch (e) {
      log.warn('metadata request failed', { scope: scope?.key, source, error: (e as Error).message });
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('500 Internal Server Error\n');
    }
  }

  /**
   * `openstack/<version>/password` for the instance behind the connection (Nova's `handle_password`):
   * 404 when no instance has the source address; the body is read only up to the size Nova accepts.
   */
  private async password(
    scope: MetadataScope | undefined,
    source: string,
    path: string,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const content = scope ? await this.resolve(scope.owner, source.replace(/^::ffff:/, '')) : null;
    const id = (content?.metaData as { uuid?: unknown } | undefined)?.uuid;
    let r: { status: number; body: string };
    if (!this.passwords || typeof id !== 'string') {
      req.resume();
      r = { status: 404, body: '404 Not Found\n' };
    } else r = await handlePassword(this.passwords, id, req.method ?? 'GET', await readBody(req));
    res.writeHead(r.status, {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(r.body),
    });
    res.end(req.method === 'HEAD' ? undefined : r.body);
    // Never the body: the password text stays out of logs, encrypted or not.
    log.info('metadata password request', {
      scope: scope?.key,
      source,
      path,
      method: req.method,
      status: r.status,
      instance: typeof id === 'string' ? id : undefined,
    });
  }
}

/**
 * The request body up to {@link PASSWORD_MAX_BYTES}, or `tooLarge` when it is longer (by its
 * content-length or by what came); undefined for a method without a body.
 */
async function readBody(req: IncomingMessage): Promise<Buffer | 'tooLarge' | undefined> {
  if (req.method !== 'POST') {
    req.resume();
    return undefined;
  }
  if (Number(req.headers['content-length'] ?? 0) > PASSWORD_MAX_BYTES) {
    req.resume();
    return 'tooLarge';
  }
  const chunks: Buffer[] = [];
  let size = 0;
  // Read to the end (leaving the loop early would destroy the socket the answer goes out on); past
  // the limit, chunks are dropped as they come.
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size <= PASSWORD_MAX_BYTES) chunks.push(c as Buffer);
  }
  return size > PASSWORD_MAX_BYTES ? 'tooLarge' : Buffer.concat(chunks);
}
