/**
 * The console routes of the agent API (bearer-authenticated like every `/v1` route):
 *   GET  /v1/servers/{id}/console/log[?follow=1][&tail=N]  the serial log as text/plain, followed while
 *        the client stays connected
 *   POST /v1/servers/{id}/console/vnc  {ttlSeconds?}        a noVNC URL with a short-lived token
 *   GET  /v1/servers/{id}/console with `Upgrade: stratus-console`  an interactive serial session: after
 *        `101 Switching Protocols` the connection carries the guest's serial port byte for byte
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { type ConsoleService, VNC_TOKEN_TTL } from '../console/service.js';
import { InvalidRequest, NotFound } from '../errors.js';
import { errorResponse, MethodNotAllowed } from './errors.js';

/** What the console routes need from the agent. */
export interface ConsoleDeps {
  consoles: ConsoleService;
  /** The base URL (`http://127.0.0.1:PORT`) of the listener serving noVNC; started on first use. */
  consoleBase(): Promise<string>;
}

/** The upgrade protocol name of interactive serial sessions. */
export const SERIAL_UPGRADE = 'stratus-console';

/** Whether `parts` (a split `/v1/...` path) is a console route. */
export function isConsoleRoute(parts: string[]): boolean {
  return parts[1] === 'servers' && parts[3] === 'console' && parts.length <= 5;
}

/** Answers a console route; the caller has authenticated it. */
export async function consoleRoute(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  parts: string[],
  deps: ConsoleDeps,
  readJson: (req: IncomingMessage) => Promise<unknown>,
): Promise<void> {
  const id = parts[2]!;
  const what = parts[4];
  if (what === 'log') {
    if (req.method !== 'GET') throw new MethodNotAllowed(`${req.method} not allowed here`);
    const follow = ['1', 'true'].includes(url.searchParams.get('follow') ?? '');
    const tailText = url.searchParams.get('tail');
    const tail = tailText === null ? undefined : Number(tailText);
    if (tail !== undefined && (!Number.isInteger(tail) || tail < 0))
      throw new InvalidRequest('tail must be a non-negative integer', { field: ['tail'] });
    const gone = new AbortController();
    res.once('close', () => gone.abort());
    const chunks = deps.consoles.log(id, { follow, tail, signal: gone.signal });
    // The first read finds the server (or fails) before the 200 is sent.
    const first = await chunks.next();
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    if (!first.done) res.write(first.value);
    for await (const c of chunks) if (!res.write(c)) await new Promise((r) => res.once('drain', r));
    res.end();
    return;
  }
  if (what === 'vnc') {
    if (req.method !== 'POST') throw new MethodNotAllowed(`${req.method} not allowed here`);
    const body = (await readJson(req)) as { ttlSeconds?: unknown } | null;
    const ttl = body?.ttlSeconds ?? VNC_TOKEN_TTL.default;
    if (typeof ttl !== 'number')
      throw new InvalidRequest('ttlSeconds must be a number', { field: ['ttlSeconds'] });
    const { token, expiresAt } = await deps.consoles.issueVnc(id, ttl);
    const base = await deps.consoleBase();
    const text = JSON.stringify({ url: `${base}/vnc/${token}/`, expiresAt: expiresAt.toISOString() });
    res.writeHead(201, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  if (what === undefined)
    throw new InvalidRequest(
      `an interactive console needs an upgraded connection (Upgrade: ${SERIAL_UPGRADE}); GET .../console/log reads the log`,
      { code: 'upgrade_required' },
    );
  throw new NotFound(`path ${url.pathname} not found`);
}

/** Answers `GET /v1/servers/{id}/console` with `Upgrade: stratus-console` (already authenticated). */
export function serialUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  parts: string[],
  deps: ConsoleDeps,
): void {
  const fail = (e: unknown) => {
    const { status, body } = errorResponse(e);
    const text = JSON.stringify(body);
    socket.end(
      `HTTP/1.1 ${status} Error\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
    );
  };
  if (req.method !== 'GET' || (req.headers.upgrade ?? '').toLowerCase() !== SERIAL_UPGRADE) {
    fail(new InvalidRequest(`upgrade to ${SERIAL_UPGRADE} with GET`, { code: 'upgrade_required' }));
    return;
  }
  deps.consoles.openSerial(parts[2]!).then((session) => {
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nupgrade: ${SERIAL_UPGRADE}\r\nconnection: Upgrade\r\n\r\n`,
    );
    session.output.pipe(socket);
    socket.pipe(session.input);
    const close = () => {
      session.close();
      socket.destroy();
    };
    socket.on('close', close).on('error', close);
    session.output.on('error', close);
    session.input.on('error', close);
  }, fail);
}
