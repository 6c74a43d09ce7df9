import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import {
  type ApiHostInfo,
  type ApiList,
  type ApiServerPassword,
  decodeOwner,
  formatPath,
  isResourceType,
  OWNER_HEADER,
  schemas,
  validateResource,
} from '@stratus/model';
import { EXTENTS_MEDIA_TYPE } from '@stratus/util';
import type { ConsoleWeb } from '../console/web.js';
import { InvalidRequest, NotFound } from '../errors.js';
import { logger } from '../host/log.js';
import { isResourceId } from '../host/names.js';
import type { PasswordStore } from '../metadata/password.js';
import type { ServiceMap } from '../services/index.js';
import { withOwner } from '../services/owner.js';
import { type ConsoleDeps, consoleRoute, isConsoleRoute, serialUpgrade } from './console.js';
import { errorResponse, MethodNotAllowed, PayloadTooLarge, Unauthorized } from './errors.js';
import { handleUpgrade } from './tunnel.js';

const log = logger('api');
const MAX_BODY = 1 << 20;

/** The HTTP API's dependencies. */
export interface ApiDeps {
  token: string;
  services: ServiceMap;
  hostInfo: () => Promise<ApiHostInfo>;
  /** Server consoles (serial log and session, VNC tokens) and the web endpoint serving noVNC. */
  console?: ConsoleDeps & { web: ConsoleWeb };
  /** The passwords guests posted to the metadata service (`/v1/servers/ID/password`). */
  passwords?: PasswordStore;
}

const collections = new Map(Object.values(schemas).map((s) => [s.collection, s.type]));

function send(res: ServerResponse, status: number, body?: unknown): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new PayloadTooLarge(`request body exceeds ${MAX_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InvalidRequest(`request body is not valid JSON: ${(e as Error).message}`, {
      code: 'invalid_json',
    });
  }
}

function authorized(req: IncomingMessage, token: string): boolean {
  const h = req.headers.authorization ?? '';
  const m = /^Bearer (.+)$/.exec(h);
  if (!m) return false;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Routes one request. Auth comes first: nothing is read or changed for an unauthenticated caller. */
async function route(req: IncomingMessage, res: ServerResponse, deps: ApiDeps): Promise<void> {
  if (!authorized(req, deps.token)) throw new Unauthorized('missing or wrong bearer token');
  const url = new URL(req.url ?? '/', 'http://agent');
  const parts = url.pathname.split('/').filter(Boolean);
  if (parts[0] !== 'v1') throw new NotFound(`path ${url.pathname} not found`);
  if (parts.length === 2 && parts[1] === 'host' && req.method === 'GET')
    return send(res, 200, await deps.hostInfo());
  if (deps.console && isConsoleRoute(parts))
    return consoleRoute(req, res, url, parts, deps.console, readJson);
  if (deps.passwords && parts.length === 4 && parts[1] === 'servers' && parts[3] === 'password')
    return passwordRoute(req, res, parts[2]!, deps.services, deps.passwords);
  const type = collections.get(parts[1] ?? '');
  const fileRoute = parts.length === 4 && parts[3] === 'file';
  const progressRoute = parts.length === 4 && parts[3] === 'progress';
  if (!type || !isResourceType(type) || (parts.length > 3 && !fileRoute && !progressRoute))
    throw new NotFound(`path ${url.pathname} not found`);
  const svc = deps.services[type];
  if (parts.length === 2) {
    if (req.method !== 'GET') throw new MethodNotAllowed(`${req.method} not allowed here`);
    // `?id=A&id=B`: only those (the ones that exist), so a client refreshes a collection in one call.
    const ids = url.searchParams.getAll('id');
    for (const id of ids)
      if (!isResourceId(id))
        throw new InvalidRequest(`resource id ${JSON.stringify(id)} is not a lower-case UUID`, {
          field: ['id'],
        });
    const list: ApiList = { items: await svc.list(url.searchParams.has('id') ? ids : undefined) };
    return send(res, 200, list);
  }
  const id = parts[2]!;
  if (id === 'import' && req.method === 'POST') {
    if (!svc.import)
      throw new MethodNotAllowed(`${type} resources cannot be imported`, { code: 'not_importable' });
    const body = (await readJson(req)) as { externalId?: unknown };
    if (typeof body?.externalId !== 'string' || body.externalId === '')
      throw new InvalidRequest('externalId must be a non-empty string', { field: ['externalId'] });
    return send(res, 201, await svc.import(body.externalId));
  }
  if (!isResourceId(id))
    throw new InvalidRequest(`resource id ${JSON.stringify(id)} is not a lower-case UUID`, { field: ['id'] });
  if (fileRoute) {
    // The data of the type's local-file attribute, streamed by a client that can read the file.
    if (!svc.upload) throw new NotFound(`${type} resources have no file`);
    if (req.method !== 'PUT') throw new MethodNotAllowed(`${req.method} not allowed here`);
    // `Content-Type: application/vnd.stratus.extents`: the data extents of a sparse file (see @stratus/util);
    // `?sha256=1`: also the plain SHA-256, which a declared checksum is compared against.
    const extents = (req.headers['content-type'] ?? '').split(';')[0]!.trim() === EXTENTS_MEDIA_TYPE;
    return send(
      res,
      200,
      await svc.upload(id, req, { extents, sha256: url.searchParams.get('sha256') === '1' }),
    );
  }
  if (progressRoute) {
    if (req.method !== 'GET') throw new MethodNotAllowed(`${req.method} not allowed here`);
    const p = svc.progress?.(id);
    if (!p) throw new NotFound(`no create of ${type} ${id} in flight reports progress`);
    return send(res, 200, p);
  }
  switch (req.method) {
    case 'GET': {
      const rec = await svc.get(id);
      if (!rec) throw new NotFound(`${type} ${id} not found`);
      return send(res, 200, rec);
    }
    case 'PUT': {
      const body = await readJson(req);
      const problems = validateResource(type, body);
      // The schema's own limits, and no others: request validation is the model's.
      if (problems.length > 0) {
        const p = problems[0]!;
        throw new InvalidRequest(`${formatPath(p.path) || 'body'}: ${p.message}`, { field: p.path });
      }
      const uploaded = url.searchParams.get('uploaded') ?? undefined;
      if (uploaded !== undefined && !svc.upload)
        throw new InvalidRequest(`${type} resources take no uploaded data`, { field: ['uploaded'] });
      // A caller that gives up (interrupt, its own timeout) closes the connection: waits stop then.
      const gone = new AbortController();
      const onClose = () => {
        if (!res.writableFinished) gone.abort(new Error('the client closed the connection'));
      };
      res.once('close', onClose);
      try {
        return send(
          res,
          200,
          await svc.ensure(id, body as Record<string, unknown>, { uploaded, signal: gone.signal }),
        );
      } finally {
        res.off('close', onClose);
      }
    }
    case 'DELETE':
      await svc.delete(id);
      return send(res, 204);
    default:
      throw new MethodNotAllowed(`${req.method} not allowed here`);
  }
}

/**
 * `/v1/servers/ID/password`: the encrypted password the guest posted to the metadata service, as Nova's
 * `os-server-password` API answers it: GET gives `{password}` (ciphertext, base64; null when none), DELETE
 * forgets it so the guest may post again. The private key that decrypts it stays with the user.
 */
async function passwordRoute(
  req: IncomingMessage,
  res: ServerResponse,
  id: string,
  services: ServiceMap,
  passwords: PasswordStore,
): Promise<void> {
  if (!isResourceId(id))
    throw new InvalidRequest(`resource id ${JSON.stringify(id)} is not a lower-case UUID`, { field: ['id'] });
  if (!(await services.server.get(id))) throw new NotFound(`server ${id} not found`);
  if (req.method === 'GET')
    return send(res, 200, { password: await passwords.get(id) } satisfies ApiServerPassword);
  if (req.method === 'DELETE') {
    await passwords.clear(id);
    return send(res, 204);
  }
  throw new MethodNotAllowed(`${req.method} not allowed here`);
}

/** Creates the agent's HTTP server (not yet listening); HTTPS when given a certificate and key. */
export function createApiServer(deps: ApiDeps, tls?: { cert: Buffer; key: Buffer }): Server {
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const started = Date.now();
    log.debug('request received', { method: req.method, url: req.url });
    const owner = decodeOwner(req.headers[OWNER_HEADER] as string | undefined);
    // The VNC console page and its assets: the console token in the path is the credential.
    const web = deps.console?.web;
    const answer = web?.handles(req.url) ? () => web.request(req, res) : () => route(req, res, deps);
    withOwner(owner, answer)
      .catch((e: unknown) => {
        // Unavailable (libvirtd restarting) is marked retryable: the client retries with backoff, and
        // the operation is idempotent by id.
        const { status, body, internal } = errorResponse(e);
        if (internal)
          log.error('request failed', {
            method: req.method,
            url: req.url,
            error: (e as Error)?.stack ?? String(e),
          });
        send(res, status, body);
      })
      .finally(() =>
        log.debug('request', {
          method: req.method,
          url: req.url,
          status: res.statusCode,
          ms: Date.now() - started,
        }),
      );
  };
  const server = tls ? createHttpsServer(tls, handler) : createServer(handler);
  // Upgrades: the noVNC page's websocket and the serial console (console/), and `stratus ssh`'s TCP
  // tunnels to guests (api/tunnel.ts), which answer every other path with 404.
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const c = deps.console;
    if (c?.web.handles(req.url)) return c.web.upgrade(req, socket, head);
    const parts = new URL(req.url ?? '/', 'http://agent').pathname.split('/').filter(Boolean);
    if (!c || parts[0] !== 'v1' || !isConsoleRoute(parts) || parts.length !== 4) {
      void handleUpgrade(req, socket, head, {
        authorized: (r) => authorized(r, deps.token),
        services: deps.services,
      });
      return;
    }
    if (!authorized(req, deps.token)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    serialUpgrade(req, socket, parts, c);
  });
  return server;
}
