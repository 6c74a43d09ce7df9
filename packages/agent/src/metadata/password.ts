/**
 * The instance password of the metadata service, as Nova serves it (`nova/api/metadata/password.py`,
 * `handle_password`; routed in `nova/api/metadata/base.py` for the OpenStack versions from 2013-04-04 on):
 * the guest (cloudbase-init's `post_password`, or any script) generates an administrator password,
 * encrypts it with the first SSH public key of the instance (RSA, PKCS#1 v1.5) and POSTs the base64 text
 * to `/openstack/2013-04-04/password` once; a GET answers it (empty while there is none, which
 * cloudbase-init's `is_password_set` reads as "not set"); a second POST is 409 Conflict; a body over
 * 1020 bytes (Nova's 4 chunks of 255) is 400. The user reads it through the API and decrypts it with the
 * private key, which never reaches the agent.
 *
 * The service knows the instance only from the connection (network + source address), so no other
 * instance can post or read it. The stored text is ciphertext, but it is still kept out of logs.
 */
import { link, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempSibling } from '@stratus/util';
import { OPENSTACK_METADATA_VERSIONS, versionAtLeast } from '../configdrive/index.js';

/** Largest password body Nova accepts, in bytes (`CHUNKS * CHUNK_LENGTH` = 4 * 255). */
export const PASSWORD_MAX_BYTES = 1020;

/** The first OpenStack metadata version with the `password` path (Grizzly). */
export const PASSWORD_SINCE = '2013-04-04';

/** Where an instance's password is kept. Implementations must make {@link PasswordStore.create} atomic. */
export interface PasswordStore {
  /** The password text of instance `id`, or null when none was posted. */
  get(id: string): Promise<string | null>;
  /**
   * Stores `text` as instance `id`'s password unless it has one: `created`, `exists` (one was posted
   * before; nothing changes), or `gone` (the instance has no place any more: it is being deleted).
   */
  create(id: string, text: string): Promise<'created' | 'exists' | 'gone'>;
  /** Forgets instance `id`'s password (Nova's clear-password), so the guest may post a new one. */
  clear(id: string): Promise<void>;
}

/** True when `parts` (a split request path) is `openstack/<version>/password` for a version that has it. */
export function isPasswordPath(parts: readonly string[]): boolean {
  if (parts.length !== 3 || parts[0] !== 'openstack' || parts[2] !== 'password') return false;
  const v = parts[1]!;
  if (v === 'latest') return true;
  const known = (OPENSTACK_METADATA_VERSIONS as readonly string[]).includes(v);
  return known && versionAtLeast(v as (typeof OPENSTACK_METADATA_VERSIONS)[number], PASSWORD_SINCE);
}

/** An answer of the password path: status and plain-text body. */
export interface PasswordResponse {
  status: 200 | 400 | 404 | 409;
  body: string;
}

/**
 * Nova's `handle_password` for instance `id`: GET answers the password (empty when none), POST stores
 * `body` once. `body` is what the guest sent, or `tooLarge` when it was over {@link PASSWORD_MAX_BYTES}
 * (the caller stops reading there). An empty POST is refused with 400: Nova would store the empty string,
 * which means "none", so the guest gains nothing from it.
 */
export async function handlePassword(
  store: PasswordStore,
  id: string,
  method: string,
  body: Buffer | 'tooLarge' | undefined,
): Promise<PasswordResponse> {
  if (method === 'GET' || method === 'HEAD') return { status: 200, body: (await store.get(id)) ?? '' };
  if (method !== 'POST') return { status: 400, body: '400 Bad Request: GET or POST the password\n' };
  // Nova checks for an existing password first: a repeated post is a conflict whatever its size.
  if ((await store.get(id)) !== null) return { status: 409, body: '409 Conflict: the password is set\n' };
  if (body === 'tooLarge')
    return { status: 400, body: `400 Bad Request: the password is over ${PASSWORD_MAX_BYTES} bytes\n` };
  const text = (body ?? Buffer.alloc(0)).toString('utf8');
  if (text.trim() === '') return { status: 400, body: '400 Bad Request: the password is empty\n' };
  const r = await store.create(id, text);
  if (r === 'exists') return { status: 409, body: '409 Conflict: the password is set\n' };
  if (r === 'gone') return { status: 404, body: '404 Not Found\n' };
  return { status: 200, body: '' };
}

/**
 * A {@link PasswordStore} keeping each password in a file `password` in the instance's directory
 * (`dirOf(id)`), mode 0600, so it survives an agent restart and goes when the directory goes with the
 * server. The file is written next to its place and hard-linked into it: `link` fails when the name
 * exists, which makes the first post win however many race, and a reader never sees a half-written file.
 */
export class InstanceDirPasswords implements PasswordStore {
  constructor(private readonly dirOf: (id: string) => string) {}

  private file(id: string): string {
    return join(this.dirOf(id), 'password');
  }

  async get(id: string): Promise<string | null> {
    try {
      return await readFile(this.file(id), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  async create(id: string, text: string): Promise<'created' | 'exists' | 'gone'> {
    const file = this.file(id);
    const tmp = tempSibling(file);
    try {
      await writeFile(tmp, text, { mode: 0o600, flag: 'wx' });
    } catch (e) {
      // No directory: the server is gone (or going); the password must not recreate its directory.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
      throw e;
    }
    try {
      await link(tmp, file);
      return 'created';
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
      throw e;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async clear(id: string): Promise<void> {
    await rm(this.file(id), { force: true });
  }
}
