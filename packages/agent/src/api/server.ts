import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { formatPath, isResourceType, type ResourceType, schemas, validateResource } from '@stratus/model';
import { ComputeError } from '../compute/errors.js';
import { logger } from '../host/log.js';
import { isResourceId } from '../host/names.js';
import { ApiError, badRequest, notFound } from './errors.js';

const log = logger('api');
const MAX_BODY = 1 << 20;

/** A resource record as the API returns it. */
export interface ApiRecord {
  id: string;
  type: ResourceType;
  spec: Record<string, unknown>;
  status: Record<string, unknown>;
}

/** What the API needs from each resource type's service. */
export interface ResourceService {
  /** Creates the resource, or converges an existing one to `spec` (idempotent by id). */
  ensure(id: string, spec: Record<string, unknown>): Promise<ApiRecord>;
  /** The resource with its live status, or null. */
  get(id: string): Promise<ApiRecord | null>;
  list(): Promise<ApiRecord[]>;
  /** Removes the resource and every host object it owns; succeeds when already gone. */
  delete(id: string): Promise<void>;
  /** Adopts an object made outside Stratus (named as the host knows it) under a new record. */
  import?(externalId: string): Promise<ApiRecord>;
}

/** The HTTP API's dependencies. */
export interface ApiDeps {
  token: string;
  services: Record<ResourceType, ResourceService>;
  hostInfo: () => Promise<Record<string, unknown>>;
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
    if (size > MAX_BODY) throw new ApiError(413, 'body_too_large', `request body exceeds ${MAX_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, 'invalid_json', `request body is not valid JSON: ${(e as Error).message}`);
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
  if (!authorized(req, deps.token)) throw new ApiError(401, 'unauthorized', 'missing or wrong bearer token');
  const url = new URL(req.url ?? '/', 'http://agent');
  const parts = url.pathname.split('/').filter(Boolean);
  if (parts[0] !== 'v1') throw notFound(`path ${url.pathname}`);
  if (parts.length === 2 && parts[1] === 'host' && req.method === 'GET')
    return send(res, 200, await deps.hostInfo());
  const type = collections.get(parts[1] ?? '');
  if (!type || !isResourceType(type) || parts.length > 3) throw notFound(`path ${url.pathname}`);
  const svc = deps.services[type];
  if (parts.length === 2) {
    if (req.method !== 'GET') throw new ApiError(405, 'method_not_allowed', `${req.method} not allowed here`);
    return send(res, 200, { items: await svc.list() });
  }
  const id = parts[2]!;
  if (id === 'import' && req.method === 'POST') {
    if (!svc.import) throw new ApiError(405, 'not_importable', `${type} resources cannot be imported`);
    const body = (await readJson(req)) as { externalId?: unknown };
    if (typeof body?.externalId !== 'string' || body.externalId === '')
      throw badRequest('externalId must be a non-empty string', 'externalId');
    return send(res, 201, await svc.import(body.externalId));
  }
  if (!isResourceId(id)) throw badRequest(`resource id ${JSON.stringify(id)} is not a lower-case UUID`, 'id');
  switch (req.method) {
    case 'GET': {
      const rec = await svc.get(id);
      if (!rec) throw notFound(`${type} ${id}`);
      return send(res, 200, rec);
    }
    case 'PUT': {
      const body = await readJson(req);
      const problems = validateResource(type, body);
      if (problems.length > 0) {
        const p = problems[0]!;
        const field = formatPath(p.path);
        throw new ApiError(400, 'invalid_request', `${field || 'body'}: ${p.message}`, field || undefined);
      }
      return send(res, 200, await svc.ensure(id, body as Record<string, unknown>));
    }
    case 'DELETE':
      await svc.delete(id);
      return send(res, 204);
    default:
      throw new ApiError(405, 'method_not_allowed', `${req.method} not allowed here`);
  }
}

/** Creates the agent's HTTP server (not yet listening); HTTPS when given a certificate and key. */
export function createApiServer(deps: ApiDeps, tls?: { cert: Buffer; key: Buffer }): Server {
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const started = Date.now();
    route(req, res, deps)
      .catch((e: unknown) => {
        if (e instanceof ApiError) send(res, e.status, e.toBody());
        else if (ComputeError.isInstance(e) && e.code === 'libvirt_unavailable') {
          // libvirtd restarting: the client retries with backoff; the operation is idempotent by id.
          send(res, 503, { code: e.code, message: e.message, retryable: true });
        } else {
          log.error('request failed', {
            method: req.method,
            url: req.url,
            error: (e as Error).stack ?? String(e),
          });
          send(res, 500, { code: 'internal', message: (e as Error).message, retryable: false });
        }
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
  return tls ? createHttpsServer(tls, handler) : createServer(handler);
}
