/**
 * Where a running domain's consoles are, read from its live XML (libvirt fills in what it allocated at
 * start): the serial port's pty (`<serial type='pty'><source path='/dev/pts/N'/>`) and the VNC display's
 * unix socket (`<graphics type='vnc'><listen type='socket' socket='...'/>`).
 */
import { Conflict } from '../errors.js';

/** The first element named `name` in `xml` (attributes and body), or null. Domain XML from libvirt only. */
function section(xml: string, name: string): string | null {
  const m = new RegExp(`<${name}\\b[^>]*(/>|>[\\s\\S]*?</${name}>)`).exec(xml);
  return m ? m[0] : null;
}

function attr(fragment: string, element: string, name: string): string | null {
  const m = new RegExp(`<${element}\\b[^>]*\\s${name}='([^']*)'`).exec(fragment);
  return m ? decode(m[1]!) : null;
}

function decode(s: string): string {
  return s
    .replace(/&apos;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** The pty of the domain's first serial port; `console_unavailable` when it has none (not running). */
export function serialPty(xml: string, serverId: string): string {
  const serial = section(xml, 'serial');
  const path = serial ? attr(serial, 'source', 'path') : null;
  if (!path || !/^\/dev\/pts\/\d+$/.test(path))
    throw new Conflict(`server ${serverId} has no serial console to attach to (is it running?)`, {
      code: 'console_unavailable',
    });
  return path;
}

/** The unix socket of the domain's VNC display; `console_unavailable` when it has none. */
export function vncSocket(xml: string, serverId: string): string {
  const g = /<graphics\b[^>]*type='vnc'[^>]*>[\s\S]*?<\/graphics>/.exec(xml)?.[0];
  const socket = g ? (attr(g, 'graphics', 'socket') ?? attr(g, 'listen', 'socket')) : null;
  if (!socket?.startsWith('/'))
    throw new Conflict(
      `server ${serverId} has no VNC display on a unix socket (servers created before consoles existed ` +
        'have none: replace the server), or it is not running',
      { code: 'console_unavailable' },
    );
  return socket;
}
