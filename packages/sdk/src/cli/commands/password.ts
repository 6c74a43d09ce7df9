/**
 * `stratus server password [STACK] SERVER [-private-key FILE]`: the administrator password a guest
 * (cloudbase-init on Windows) generated and posted to the metadata service, decrypted with the private key
 * of the server's first SSH key: the key pair's when Stratus generated it (it is in state), or FILE. The
 * clear text goes to stdout only; the agent never sees it.
 */
import { readFileSync } from 'node:fs';
import type { ApiServerPassword } from '@stratus/model';
import { LOCAL_HOST } from '../../client/pool.js';
import type { StateResource } from '../../state/types.js';
import { CliError, usageError } from '../args.js';
import { out, say } from '../io.js';
import type { Ctx } from '../registry.js';
import { decryptServerPassword, PasswordDecryptError, readRsaPrivateKey } from '../server-password.js';
import { backendFor, loadChecked, localProviders } from '../session.js';

/** The server named `name` (its name in the stack, or its id) in state. */
function findServer(resources: StateResource[], name: string): StateResource {
  const r = resources.find((x) => x.type === 'server' && (x.name === name || x.id === name));
  if (r) return r;
  const servers = resources.filter((x) => x.type === 'server').map((x) => x.name);
  throw new CliError(
    `no server named ${name} in state${servers.length ? ` (servers: ${servers.join(', ')})` : ''}`,
  );
}

/** `stratus server password`: see the module comment. */
export async function cmdServerPassword(ctx: Ctx): Promise<number> {
  if (ctx.args.length !== 1)
    throw usageError(ctx.command, 'server password takes one SERVER (its name in the stack, or its id)');
  const keyFile = ctx.flags['private-key'] as string | undefined;
  if (keyFile === '') throw usageError(ctx.command, '-private-key needs a FILE');
  const { config } = await loadChecked(ctx.stack);
  const doc = await backendFor(config, ctx.flags).read();
  const resources = doc?.resources ?? [];
  const server = findServer(resources, ctx.args[0]!);

  let keyText: string;
  if (keyFile !== undefined) {
    try {
      keyText = readFileSync(keyFile, 'utf8');
    } catch (e) {
      throw new CliError(
        `-private-key ${keyFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
  } else {
    const kp = resources.find((x) => x.type === 'keypair' && x.id === server.attributes.keyPair);
    const generated = kp?.attributes.privateKey;
    if (typeof generated !== 'string' || generated === '')
      throw new CliError(
        `server ${server.name} has no key pair whose private key Stratus generated: give -private-key FILE (the private half of its first SSH key)`,
      );
    keyText = generated;
  }

  const { pool } = localProviders(say);
  let posted: ApiServerPassword;
  try {
    const client = await pool.client(server.host ?? LOCAL_HOST);
    posted = await client.get<ApiServerPassword>(`/v1/servers/${server.id}/password`);
  } finally {
    await pool.close();
  }
  if (posted.password === null || posted.password === '') {
    say(
      `server ${server.name} has no password yet: the guest posts one (cloudbase-init does, after first boot) to the metadata service`,
    );
    return 1;
  }
  try {
    const where = keyFile ?? `the private key of key pair ${String(server.attributes.keyPair)}`;
    let key: ReturnType<typeof readRsaPrivateKey>;
    try {
      key = readRsaPrivateKey(keyText);
    } catch (e) {
      if (e instanceof PasswordDecryptError) throw new CliError(`${where}: ${e.message}`);
      throw e;
    }
    out.write(`${decryptServerPassword(posted.password, key)}\n`);
    return 0;
  } catch (e) {
    if (e instanceof PasswordDecryptError) throw new CliError(`server ${server.name}: ${e.message}`);
    throw e;
  }
}
