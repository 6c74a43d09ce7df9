/**
 * `GET /v1/servers/{id}/tunnel?port=N` with `Upgrade: stratus-tcp`: after `101 Switching Protocols` the
 * connection carries the bytes of a TCP connection the agent opened to the server's first address, from its
 * network's DHCP namespace (console/tunnel.ts). `stratus ssh` runs OpenSSH through it. Same bearer token as
 * every other call; errors before the upgrade are the API's JSON errors.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { connectGuest } from '../console/tunnel.js';
import { Conflict, InvalidRequest, NotFound } from '../errors.js';
import { logger } from '../host/log.js';
import { isResourceId } from '../host/names.js';
import type { ServiceMap } from '../services/index.js';
import { errorResponse, Unauthorized } from './errors.js';

const log = logger('api');

/** The Upgrade token of a tunnel request. */
export const TUNNEL_PROTOCOL = 'stratus-tcp';

function refuse(socket: Duplex, e: unknown): void {
  const { status, body } = errorResponse(e);
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} Error\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
  );
}

/** Answers an HTTP upgrade request: a tunnel, or a JSON error and the socket closed. */
export async function handleUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  deps: { authorized: (req: IncomingMessage) => boolean; services: ServiceMap },
): Promise<void> {
  socket.on('error', () => {});
  try {
    if (!deps.authorized(req)) throw new Unauthorized('missing or wrong bearer token');
    const url = new URL(req.url ?? '/', 'http://agent');
    const parts = url.pathname.split('/').filter(Boolean);
    if (parts.length !== 4 || parts[0] !== 'v1' || parts[1] !== 'servers' || parts[3] !== 'tunnel')
      throw new NotFound(`path ${url.pathname} not found`);
    if ((req.headers.upgrade ?? '').toLowerCase() !== TUNNEL_PROTOCOL)
      throw new InvalidRequest(`upgrade to ${TUNNEL_PROTOCOL} only`, { field: ['upgrade'] });
    const id = parts[2]!;
    if (!isResourceId(id))
      throw new InvalidRequest(`resource id ${JSON.stringify(id)} is not a lower-case UUID`, {
        field: ['id'],
      });
    const port = Number(url.searchParams.get('port') ?? '22');
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new InvalidRequest('port must be an integer from 1 to 65535', { field: ['port'] });
    const server = await deps.services.server.get(id);
    if (!server) throw new NotFound(`server ${id} not found`);
    const first = (server.status.addresses as { network: string; ip: string }[] | undefined)?.[0];
    if (!first) throw new Conflict(`server ${id} has no address`, { code: 'no_address' });
    if (server.status.status !== 'ACTIVE')
      throw new Conflict(`server ${id} is ${String(server.status.status)}, not ACTIVE`, {
        code: 'server_not_active',
      });
    let conn: Awaited<ReturnType<typeof connectGuest>>;
    try {
      conn = await connectGuest(first.network, first.ip, port);
    } catch (e) {
      throw new Conflict(`cannot connect to ${first.ip}:${port} of server ${id}: ${(e as Error).message}`, {
        code: 'guest_unreachable',
      });
    }
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nupgrade: ${TUNNEL_PROTOCOL}\r\nconnection: Upgrade\r\n\r\n`,
    );
    if (head.length) conn.input.write(head);
    socket.pipe(conn.input);
    conn.output.pipe(socket);
    socket.once('close', () => conn.close());
    void conn.closed.then(() => socket.end());
    log.info('tunnel opened', { server: id, ip: first.ip, port });
  } catch (e) {
    refuse(socket, e);
  }
}
