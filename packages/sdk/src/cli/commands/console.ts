import type { ApiList, ApiRecord } from '@stratus/model';
import { localAgentPaths } from '@stratus/util';
import type { AgentClient } from '../../client/agent-client.js';
import { LOCAL_HOST, localPool } from '../../client/pool.js';
import { ensureLocalAgent } from '../agent-launch.js';
import { usageError } from '../args.js';
import { out, say } from '../io.js';
import type { Ctx } from '../registry.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Ctrl-]: ends an interactive session, as in `virsh console` and telnet. */
const DETACH = 0x1d;

/** The server `ref` names: its id, or the one server with that name. */
async function findServer(client: AgentClient, command: string, ref: string): Promise<ApiRecord> {
  const { items } = await client.get<ApiList>('/v1/servers');
  const byId = UUID.test(ref) ? items.find((s) => s.id === ref) : undefined;
  if (byId) return byId;
  const named = items.filter((s) => s.spec.name === ref);
  if (named.length === 1) return named[0]!;
  if (named.length > 1)
    throw usageError(
      command,
      `${named.length} servers are named ${JSON.stringify(ref)} (${named.map((s) => s.id).join(', ')}); give the id`,
    );
  throw usageError(command, `no server ${JSON.stringify(ref)} (see: stratus list servers)`);
}

/** `stratus console SERVER [-interactive | -vnc [-ttl=S] | -follow=false -tail=N]`. */
export async function cmdConsole(ctx: Ctx): Promise<number> {
  if (ctx.args.length !== 1) throw usageError(ctx.command, 'console takes one SERVER (an id or a name)');
  if (ctx.flags.interactive && ctx.flags.vnc)
    throw usageError(ctx.command, '-interactive and -vnc exclude each other');
  const pool = localPool(() => ensureLocalAgent(localAgentPaths(), say));
  try {
    const client = await pool.client(LOCAL_HOST);
    const server = await findServer(client, ctx.command, ctx.args[0]!);
    const base = `/v1/servers/${server.id}/console`;
    const label = `${String(server.spec.name ?? server.id)} (${server.id})`;
    if (ctx.flags.vnc) {
      const ttl = ctx.flags.ttl === undefined ? undefined : Number(ctx.flags.ttl);
      if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 1))
        throw usageError(ctx.command, '-ttl must be a whole number of seconds');
      const r = await client.call<{ url: string; expiresAt: string }>(
        'POST',
        `${base}/vnc`,
        ttl === undefined ? {} : { ttlSeconds: ttl },
      );
      out.write(`${r.url}\n`);
      say(`VNC console of server ${label}; the URL admits new connections until ${r.expiresAt}.`);
      return 0;
    }
    if (ctx.flags.interactive) return await interactive(client, base, label);
    const tail = ctx.flags.tail === undefined ? undefined : Number(ctx.flags.tail);
    if (tail !== undefined && (!Number.isInteger(tail) || tail < 0))
      throw usageError(ctx.command, '-tail must be a whole number of lines');
    const follow = ctx.flags.follow !== false;
    const stop = new AbortController();
    const onSigint = () => stop.abort();
    process.once('SIGINT', onSigint);
    try {
      const q = new URLSearchParams({
        follow: follow ? '1' : '0',
        ...(tail !== undefined ? { tail: String(tail) } : {}),
      });
      const body = await client.stream(`${base}/log?${q}`, { signal: stop.signal });
      for await (const chunk of body) if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
    } catch (e) {
      if (!stop.signal.aborted) throw e;
    } finally {
      process.off('SIGINT', onSigint);
    }
    return 0;
  } finally {
    await pool.close();
  }
}

/** Attaches the terminal to the server's serial port until Ctrl-] or the agent closes the session. */
async function interactive(client: AgentClient, base: string, label: string): Promise<number> {
  const socket = await client.upgrade(base, 'stratus-console');
  say(`Connected to the serial console of server ${label}. Ctrl-] detaches.`);
  const stdin = process.stdin;
  const raw = stdin.isTTY === true;
  if (raw) stdin.setRawMode(true);
  return new Promise<number>((resolve) => {
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      stdin.off('data', onData);
      if (raw) stdin.setRawMode(false);
      stdin.pause();
      socket.destroy();
      say('\r\nDetached.');
      resolve(0);
    };
    const onData = (chunk: Buffer) => {
      const i = chunk.indexOf(DETACH);
      if (i >= 0) {
        if (i > 0) socket.write(chunk.subarray(0, i));
        done();
        return;
      }
      socket.write(chunk);
    };
    socket.on('data', (c: Buffer) => out.write(c));
    socket.once('close', done);
    socket.once('error', done);
    stdin.on('data', onData);
    stdin.resume();
  });
}
