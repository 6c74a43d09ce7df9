/**
 * Downloading an image from an http(s) URL into the cache's staging area, as Glance's `web-download`
 * import method does: the agent fetches (streamed with undici, never buffered whole), hashing and writing
 * sparsely in the same pass; nothing is usable before the import checks it.
 */
import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Agent } from 'undici';
import { logger } from '../host/log.js';
import type { WrittenData } from './copy.js';
import { storageError } from './errors.js';
import { stageImage } from './images.js';

const log = logger('images');

/** Progress of a download: bytes so far and the total the server announced (null when it did not). */
export interface DownloadProgress {
  bytes: number;
  total: number | null;
}

let shared:
  | Promise<{ request: typeof import('undici').request; dispatcher: ReturnType<Agent['compose']> }>
  | undefined;
/**
 * undici and one connection pool for downloads, following redirects (at most 5) as a browser would;
 * loaded at the first download (an agent that never downloads does not hold undici in memory).
 */
function undici() {
  shared ??= import('undici').then((u) => ({
    request: u.request,
    dispatcher: new u.Agent({ headersTimeout: 60_000, bodyTimeout: 300_000 }).compose(
      u.interceptors.redirect({ maxRedirections: 5 }),
    ),
  }));
  return shared;
}

/** `url` without user name and password, for messages and logs (a URL may carry credentials). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = '';
      u.password = '';
    }
    return u.toString();
  } catch {
    return '(an invalid URL)';
  }
}

/**
 * Downloads `url` to a new temporary in `dir` (see stageImage); follows up to 5 redirects; a status other
 * than 200, a connection failure or a body shorter than its Content-Length is `image_download_failed`
 * (the temporary removed). `progress` is called at most every second and once at the end.
 */
export async function downloadImage(
  url: string,
  dir: string,
  opts: { signal?: AbortSignal; progress?: (p: DownloadProgress) => void; sha256?: boolean } = {},
): Promise<{ path: string; data: WrittenData }> {
  const label = redactUrl(url);
  const fail = (why: string, cause?: unknown) =>
    storageError('image_download_failed', `image ${label}: download failed: ${why}`, { cause });
  let res: Awaited<ReturnType<typeof import('undici').request>>;
  try {
    const { request, dispatcher } = await undici();
    res = await request(url, { method: 'GET', signal: opts.signal, dispatcher });
  } catch (e) {
    throw fail((e as Error).message, e);
  }
  if (res.statusCode !== 200) {
    await res.body.dump().catch(() => undefined);
    throw fail(`the server answered HTTP ${res.statusCode}`);
  }
  const lengthHeader = res.headers['content-length'];
  const total = typeof lengthHeader === 'string' && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : null;
  let bytes = 0;
  let last = 0;
  const report = (final: boolean) => {
    const now = Date.now();
    if (!final && now - last < 1000) return;
    last = now;
    opts.progress?.({ bytes, total });
    log.info('image download progress', { url: label, bytes, total });
  };
  async function* counted(body: Readable): AsyncGenerator<Uint8Array> {
    for await (const chunk of body) {
      bytes += (chunk as Buffer).length;
      report(false);
      yield chunk as Buffer;
    }
  }
  let staged: { path: string; data: WrittenData };
  try {
    staged = await stageImage(counted(res.body as unknown as Readable), dir, { sha256: opts.sha256 });
  } catch (e) {
    throw fail((e as Error).message, e);
  }
  report(true);
  if (total !== null && staged.data.sizeBytes !== total) {
    await rm(staged.path, { force: true });
    throw fail(`got ${staged.data.sizeBytes} of the ${total} bytes announced`);
  }
  return staged;
}
