/**
 * A listening TCP socket made inside a network namespace and served by the agent itself: a short-lived
 * helper (`ip netns exec NS node -e ...`) binds it there and hands it to the agent over Node's IPC
 * channel (a `net.Server` handle passes as a file descriptor, SCM_RIGHTS), then exits. A socket keeps the
 * namespace it was made in, so the agent accepts connections that arrive in that namespace without any
 * process of its own living there; closing the socket is all that undoing it takes.
 *
 * A socket also keeps its namespace alive: it must be closed before the namespace is deleted, or the
 * namespace (and its veth, whose host end stays on the bridge) outlives `ip netns del`. {@link netnsInode}
 * tells whether a socket's namespace is still the one the name points at.
 */
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import type { Server } from 'node:net';
import { dyingWithAgent } from '../host/exec.js';

/**
 * The helper: binds `STRATUS_LISTEN_HOST:STRATUS_LISTEN_PORT`, sends the server and its netns inode,
 * exits; it also exits when the agent goes away first (its IPC channel closes).
 */
const HELPER = `
const net = require('node:net');
const { statSync } = require('node:fs');
// An agent that died before taking the socket: the helper must not hold the port in its place.
process.on('disconnect', () => process.exit(1));
const fail = (e) => process.send({ error: String(e && e.message || e) }, () => process.exit(1));
const srv = net.createServer();
srv.on('error', fail);
try {
  srv.listen({ host: process.env.STRATUS_LISTEN_HOST, port: Number(process.env.STRATUS_LISTEN_PORT), exclusive: true }, () => {
    process.send({ netns: statSync('/proc/self/ns/net').ino }, srv, () => process.exit(0));
  });
} catch (e) { fail(e); }
`;

/** A socket listening inside a namespace, and the inode of that namespace. */
export interface NetnsListener {
  server: Server;
  /** Inode of the namespace the socket lives in (`/proc/self/ns/net` of the helper). */
  netns: number;
}

/** Inode of the named namespace `ns` (`/run/netns/NS`), or null when there is none. */
export async function netnsInode(ns: string): Promise<number | null> {
  const st = await stat(`/run/netns/${ns}`).catch(() => null);
  return st ? st.ino : null;
}

/**
 * Binds `host:port` inside namespace `ns` and returns the listening server, which lives in the agent.
 * Rejects with the helper's error (no such namespace, address not present, port taken), or after
 * `timeoutMs` (the helper is killed then).
 */
export function listenInNamespace(
  ns: string,
  host: string,
  port: number,
  timeoutMs = 60_000,
): Promise<NetnsListener> {
  return new Promise((resolve, reject) => {
    // setpriv: the helper dies with the agent (as every child of the agent does).
    const child = spawn(...dyingWithAgent('ip', ['netns', 'exec', ns, process.execPath, '-e', HELPER]), {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { PATH: process.env.PATH, STRATUS_LISTEN_HOST: host, STRATUS_LISTEN_PORT: String(port) },
    });
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString('utf8')).slice(-2000);
    });
    let settled = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(new Error(`binding ${host}:${port} in namespace ${ns} took over ${timeoutMs / 1000}s`));
    }, timeoutMs);
    const finish = (e: Error | null, l?: NetnsListener) => {
      if (settled) {
        // A socket that came after a timeout is nobody's: close it.
        l?.server.close();
        return;
      }
      settled = true;
      clearTimeout(timer);
      if (e) reject(e);
      else resolve(l!);
    };
    child.on('message', (msg: { netns?: number; error?: string }, handle: unknown) => {
      if (msg.error !== undefined || !handle) {
        finish(new Error(`cannot bind ${host}:${port} in namespace ${ns}: ${msg.error ?? 'no socket came'}`));
        return;
      }
      finish(null, { server: handle as Server, netns: msg.netns ?? 0 });
    });
    child.on('error', (e) => finish(new Error(`cannot run ip netns exec ${ns}: ${e.message}`)));
    // 'close', not 'exit': it comes after every message the helper sent.
    child.on('close', (code, signal) => {
      finish(
        new Error(
          `binding ${host}:${port} in namespace ${ns} failed (helper exit ${code ?? signal}): ${stderr.trim()}`,
        ),
      );
    });
  });
}
