/**
 * The VNC console web endpoint (Nova's nova-novncproxy, inside the agent): `GET /vnc/<token>/` serves a
 * page running noVNC (@novnc/novnc's RFB client, served from this package's dependency), and
 * `/vnc/<token>/websockify` upgrades to a websocket relayed byte for byte to the domain's VNC unix
 * socket. Every request carries the token in its path and is refused (403, saying whether the token is
 * unknown or expired) unless {@link ConsoleService.checkVnc} grants it. No bearer token: the console
 * token is the credential, short-lived and per console, as in Nova.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { dirname, extname, join, normalize, sep } from 'node:path';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import { logger } from '../host/log.js';
import type { ConsoleService } from './service.js';

const log = logger('console');

/** The path prefix of console URLs. */
export const CONSOLE_PREFIX = '/vnc/';

/** Root of the installed @novnc/novnc package (its `core/` and `vendor/` are served). */
const NOVNC_ROOT = dirname(dirname(createRequire(import.meta.url).resolve('@novnc/novnc')));

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.json': 'application/json' };

const HEADERS = {
  'cache-control': 'no-store',
  // The token is in the URL: never sent on to another site.
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
};

function page(token: string): string {
  // Everything the page loads is below its own URL; the token is a base64url string (no quoting needed).
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Stratus console</title>
<style>html,body{margin:0;height:100%;background:#111;color:#ddd;font:14px sans-serif}
#status{position:fixed;top:0;left:0;right:0;padding:2px 6px;background:#222}#screen{position:absolute;top:22px;bottom:0;left:0;right:0}</style>
</head><body><div id="status">connecting…</div><div id="screen"></div>
<script type="module">
import RFB from './novnc/core/rfb.js';
const status = document.getElementById('status');
const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/vnc/${token}/websockify';
const rfb = new RFB(document.getElementById('screen'), url);
rfb.scaleViewport = true;
rfb.addEventListener('connect', () => { status.textContent = 'connected'; document.body.dataset.state = 'connected'; });
rfb.addEventListener('disconnect', (e) => { status.textContent = e.detail.clean ? 'disconnected' : 'connection failed'; document.body.dataset.state = 'disconnected'; });
</script></body></html>
`;
}

function refuse(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { ...HEADERS, 'content-type': 'text/plain; charset=utf-8' });
  res.end(`${message}\n`);
}

function refusal(why: 'unknown' | 'expired'): string {
  return why === 'expired'
    ? 'This console token has expired; ask for a new one (stratus console SERVER --vnc).'
    : 'This console token is not valid; ask for a new one (stratus console SERVER --vnc).';
}

/** Serves noVNC and relays its websocket; mount it on an HTTP(S) server with {@link attach}. */
export class ConsoleWeb {
  /** Loaded with `ws` at the first console connection: an agent nobody opens a console on never loads it. */
  private wss:
    | Promise<{ server: WebSocketServer; stream: typeof import('ws').createWebSocketStream }>
    | undefined;

  private websockets() {
    this.wss ??= import('ws').then((ws) => ({
      server: new ws.WebSocketServer({ noServer: true, perMessageDeflate: false }),
      stream: ws.createWebSocketStream,
    }));
    return this.wss;
  }

  constructor(private readonly consoles: ConsoleService) {}

  /** Whether this endpoint answers `url` (a request path). */
  handles(url: string | undefined): boolean {
    return (url ?? '').startsWith(CONSOLE_PREFIX);
  }

  private parse(url: string): { token: string; rest: string } | null {
    const m = /^\/vnc\/([A-Za-z0-9_-]{16,64})(\/[^?#]*)?(\?.*)?$/.exec(url);
    return m ? { token: m[1]!, rest: m[2] ?? '' } : null;
  }

  /** Answers a plain HTTP request below {@link CONSOLE_PREFIX}. */
  async request(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const p = this.parse(req.url ?? '');
    if (!p) return refuse(res, 404, 'not found');
    const grant = this.consoles.checkVnc(p.token);
    if ('refused' in grant) return refuse(res, 403, refusal(grant.refused));
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(res, 405, 'method not allowed');
    if (p.rest === '' || p.rest === '/') {
      if (p.rest === '') {
        res.writeHead(301, { ...HEADERS, location: `${CONSOLE_PREFIX}${p.token}/` });
        res.end();
        return;
      }
      const body = page(p.token);
      res.writeHead(200, {
        ...HEADERS,
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy':
          "default-src 'self'; script-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; style-src 'unsafe-inline'; img-src 'self' data: blob:",
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    const m = /^\/novnc\/((?:core|vendor)\/[A-Za-z0-9_./-]+\.js)$/.exec(p.rest);
    if (!m) return refuse(res, 404, 'not found');
    const file = normalize(join(NOVNC_ROOT, m[1]!));
    if (
      !file.startsWith(NOVNC_ROOT + sep) ||
      !(await stat(file).then(
        (s) => s.isFile(),
        () => false,
      ))
    )
      return refuse(res, 404, 'not found');
    res.writeHead(200, { ...HEADERS, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    if (req.method === 'HEAD') return void res.end();
    createReadStream(file).pipe(res);
  }

  /** Answers a websocket upgrade below {@link CONSOLE_PREFIX}: relays it to the granted server's VNC socket. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const p = this.parse(req.url ?? '');
    const grant =
      p && p.rest === '/websockify' ? this.consoles.checkVnc(p.token) : { refused: 'unknown' as const };
    if ('refused' in grant) {
      socket.end(
        `HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${refusal(grant.refused)}\n`,
      );
      return;
    }
    Promise.all([this.consoles.vncSocketOf(grant.serverId), this.websockets()]).then(
      ([path, wss]) => {
        wss.server.handleUpgrade(req, socket, head, (ws) => {
          const vnc = connect(path);
          const stream = wss.stream(ws);
          log.info('vnc console connected', { serverId: grant.serverId });
          const done = () => {
            vnc.destroy();
            stream.destroy();
          };
          vnc.on('error', done).on('close', done);
          stream.on('error', done).on('close', () => {
            done();
            log.info('vnc console closed', { serverId: grant.serverId });
          });
          vnc.pipe(stream).pipe(vnc);
        });
      },
      (e: Error) => {
        socket.end(
          `HTTP/1.1 409 Conflict\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${e.message}\n`,
        );
      },
    );
  }
}
