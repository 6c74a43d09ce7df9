/**
 * TCP tunnels to guests for `stratus ssh`: the agent opens the connection from inside the network's DHCP
 * namespace (the one place on the host with a leg on the tenant network, as Neutron operators use
 * `ip netns exec qdhcp-<id> ssh ...`), so a server without a floating IP is reachable, and relays the
 * bytes over its authenticated API (an HTTP upgrade). No address or route is added to the host.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { dyingWithAgent } from '../host/exec.js';
import { logger } from '../host/log.js';
import { dhcpNamespace } from '../host/names.js';

const log = logger('tunnel');

// Runs inside the namespace (argv: host port): connects, says `connected` on stderr, then relays stdin to
// the socket and the socket to stdout until either side ends. Errors go to stderr as one line, exit 1.
const RELAY = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port), timeout: 15000 });
s.once('connect', () => {
  s.setTimeout(0);
  process.stderr.write('connected\\n');
  process.stdin.pipe(s);
  s.pipe(process.stdout);
});
s.once('timeout', () => { process.stderr.write('connection timed out\\n'); process.exit(1); });
s.on('error', (e) => { process.stderr.write(e.message + '\\n'); process.exit(1); });
s.on('close', () => process.exit(0));
process.stdin.on('end', () => s.end());
`;

/** A TCP connection to a guest, opened from its network's DHCP namespace. */
export interface GuestConnection {
  /** Bytes to the guest. */
  input: Writable;
  /** Bytes from the guest. */
  output: Readable;
  /** Ends the connection (kills the relay). */
  close(): void;
  /** Resolves when the relay has exited. */
  closed: Promise<void>;
}

/**
 * Connects to `ip:port` from network `networkId`'s DHCP namespace; resolves once the guest accepted the
 * connection, rejects with the reason (refused, timed out, no route) otherwise. The relay is this Node
 * binary run by `ip netns exec` (which execs it) under `setpriv --pdeathsig KILL`, so it dies with the agent.
 */
export function connectGuest(networkId: string, ip: string, port: number): Promise<GuestConnection> {
  const [program, args] = dyingWithAgent('ip', [
    'netns',
    'exec',
    dhcpNamespace(networkId),
    process.execPath,
    '-e',
    RELAY,
    ip,
    String(port),
  ]);
  log.debug('run', { command: program, args: args.slice(0, 7) });
  const child: ChildProcessByStdio<Writable, Readable, Readable> = spawn(program, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const closed = new Promise<void>((r) => child.once('close', () => r()));
  return new Promise((resolve, reject) => {
    let err = '';
    let open = false;
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString('utf8');
      if (!open && err.includes('connected\n')) {
        open = true;
        log.info('guest connection opened', { networkId, ip, port });
        resolve({
          input: child.stdin,
          output: child.stdout,
          close: () => child.kill('SIGKILL'),
          closed,
        });
      }
    });
    child.stdin.on('error', () => {});
    child.once('error', (e) => reject(e));
    child.once('close', (code) => {
      if (!open) reject(new Error(err.trim() || `the relay exited with ${code}`));
      else log.info('guest connection closed', { networkId, ip, port });
    });
  });
}
