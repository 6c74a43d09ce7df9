import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import {
  type ApiList,
  type ApiProgress,
  type ApiRecord,
  attributes,
  isUrlSource,
  parseChecksum,
  type ResourceSchema,
} from '@stratus/model';
import { contentChecksumOf, formatBytes } from '@stratus/util';
import type { AgentClient } from '../client/agent-client.js';
import { AgentApiError } from '../client/errors.js';
import type { AgentPool } from '../client/pool.js';
import type { ResourceIO } from './io.js';
import type { ProviderContext, Values } from './types.js';

const flatten = (r: ApiRecord): Values => ({ ...r.spec, ...r.status });

/**
 * Opens the local file an attribute names, with this process's (the user's) permissions. Relative paths
 * are refused: loaders make them absolute against the stack file, commands against the working directory.
 */
async function openLocal(attr: string, file: unknown): Promise<FileHandle> {
  if (typeof file !== 'string' || !isAbsolute(file))
    throw new AgentApiError(
      0,
      'local_path_not_absolute',
      `${attr} must be an absolute path, got ${JSON.stringify(file)}`,
      attr,
    );
  try {
    const fh = await open(file, 'r');
    if (!(await fh.stat()).isFile()) {
      await fh.close();
      throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
    }
    return fh;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'ENOENT'
        ? 'no such file'
        : err.code === 'EACCES'
          ? 'permission denied'
          : err.code === 'EISDIR'
            ? 'not a regular file'
            : err.message;
    throw new AgentApiError(0, 'local_file_unreadable', `cannot read ${file}: ${why}`, attr);
  }
}

/**
 * Creates resource `id` of a type with a local-file attribute `attr`: the file is read here and streamed
 * to the agent (`PUT .../{id}/file`), then the spec is sent naming the upload by its SHA-256, so the agent
 * never opens a path a client names (and a remote agent gets the data too). An upload the agent lost to a
 * restart is sent once more. A resource that already exists is only updated (its file never changes),
 * also when it came to exist during the upload (a create of the same id that was still in flight).
 */
async function createFromFile(
  c: AgentClient,
  base: string,
  attr: string,
  inputs: Values,
  ctx: Pick<ProviderContext, 'signal' | 'progress'>,
): Promise<ApiRecord> {
  const { signal, progress } = ctx;
  // A URL is downloaded by the agent itself (Glance's web-download); so is data already there.
  if (isUrlSource(inputs[attr]))
    return watchDownload(c, base, progress, signal, () => c.put(base, inputs, { signal }));
  if (await c.find<ApiRecord>(base, { signal })) return c.put<ApiRecord>(base, inputs, { signal });
  const fh = await openLocal(attr, inputs[attr]);
  try {
    const total = (await fh.stat()).size;
    const sent = progress && ((bytes: number) => progress(`uploaded ${ofTotal(bytes, total)}`));
    for (let attempt = 1; ; attempt++) {
      let checksum: string;
      try {
        // A declared SHA-256 is of the file's plain bytes: the agent computes that one while writing too.
        const declared = typeof inputs.checksum === 'string' ? parseChecksum(inputs.checksum) : null;
        ({ checksum } = await c.upload(`${base}/file`, fh, {
          signal,
          sha256: declared?.algorithm === 'sha256',
          ...(sent ? { progress: sent } : {}),
        }));
      } catch (e) {
        // Made meanwhile under this id (an earlier create the agent finished after its client gave up):
        // that object is the one asked for; the PUT converges it to these inputs.
        if (AgentApiError.isInstance(e) && e.code === 'image_exists')
          return await c.put<ApiRecord>(base, inputs, { signal });
        throw e;
      }
      try {
        return await c.put<ApiRecord>(`${base}?uploaded=${checksum}`, inputs, { signal });
      } catch (e) {
        if (attempt === 1 && AgentApiError.isInstance(e) && e.code === 'upload_missing') continue;
        throw e;
      }
    }
  } finally {
    await fh.close();
  }
}

/** `120.0 MiB of 512.0 MiB` (or `120.0 MiB` when the total is unknown). */
function ofTotal(bytes: number, total: number | null): string {
  return total === null ? formatBytes(bytes) : `${formatBytes(bytes)} of ${formatBytes(total)}`;
}

/** How often the progress of an agent-side download is asked for, in milliseconds. */
const PROGRESS_POLL_MS = 1000;

/**
 * Runs `create` (a PUT whose agent downloads the data itself) while asking the agent every second how far
 * the download has come (`GET .../progress`), and reports it. A failed progress read is ignored: the
 * create's own answer is what counts.
 */
async function watchDownload(
  c: AgentClient,
  base: string,
  progress: ((detail: string) => void) | undefined,
  signal: AbortSignal,
  create: () => Promise<ApiRecord>,
): Promise<ApiRecord> {
  if (!progress) return create();
  const timer = setInterval(() => {
    c.find<ApiProgress>(`${base}/progress`, { signal })
      .then((p) => p && progress(`downloaded ${ofTotal(p.bytes, p.total)}`))
      .catch(() => undefined);
  }, PROGRESS_POLL_MS);
  try {
    return await create();
  } finally {
    clearInterval(timer);
  }
}

/**
 * What a resource made from a local file says when that file changed since the import: the file's
 * attribute reads `PATH (changed since import: sha256 HEX)`, so the plan shows it differ from the
 * stack's `PATH` and, the attribute forcing replacement, replaces the resource with one of the new
 * data. Only a file modified after `importedAt` is hashed again (its content checksum when the record has
 * `contentChecksum`, reading the data extents only; else with the algorithm of `checksum`), so an
 * unchanged file costs one stat. A missing file is not a change (the data is cached).
 */
async function markChangedSource(attrs: Values, attr: string): Promise<void> {
  const path = attrs[attr];
  const { importedAt, checksum, contentChecksum } = attrs;
  if (typeof path !== 'string' || isUrlSource(path) || !isAbsolute(path)) return;
  if (typeof importedAt !== 'string') return;
  if (typeof checksum !== 'string' && typeof contentChecksum !== 'string') return;
  const st = await stat(path).catch(() => null);
  if (!st?.isFile() || st.mtimeMs <= Date.parse(importedAt)) return;
  if (typeof contentChecksum === 'string') {
    // The content checksum reads the data extents only: a sparse file costs its data.
    const fh = await open(path, 'r').catch(() => null);
    if (!fh) return;
    try {
      const now = (await contentChecksumOf(fh)).checksum;
      if (now !== contentChecksum) attrs[attr] = `${path} (changed since import: content checksum ${now})`;
    } finally {
      await fh.close();
    }
    return;
  }
  const want = parseChecksum(checksum as string);
  const hash = createHash(want.algorithm);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  const now = hash.digest('hex');
  if (now !== want.hex) attrs[attr] = `${path} (changed since import: ${want.algorithm} ${now})`;
}

/** Ids per list request: keeps the query string well below the agent's header limit. */
const BATCH_MAX = 100;

interface PendingRead {
  id: string;
  resolve: (r: ApiRecord | null) => void;
  reject: (e: unknown) => void;
}

/**
 * Reads of one collection, gathered per host and signal for one turn of the event loop and sent as
 * one `GET /v1/{collection}?id=…` (a lone read stays a `GET /v1/{collection}/{id}`). Refresh issues its
 * reads together, so a stack's servers on a host are read in one call instead of one call each.
 */
class ReadBatcher {
  private readonly pending = new Map<AbortSignal, Map<string, PendingRead[]>>();

  constructor(
    private readonly collection: string,
    private readonly pool: AgentPool,
  ) {}

  read(host: string, id: string, signal: AbortSignal): Promise<ApiRecord | null> {
    return new Promise((resolve, reject) => {
      let bySignal = this.pending.get(signal);
      if (!bySignal) {
        bySignal = new Map();
        this.pending.set(signal, bySignal);
        setImmediate(() => this.flush(signal));
      }
      const reads = bySignal.get(host) ?? [];
      reads.push({ id, resolve, reject });
      bySignal.set(host, reads);
    });
  }

  private flush(signal: AbortSignal): void {
    const bySignal = this.pending.get(signal);
    this.pending.delete(signal);
    for (const [host, reads] of bySignal ?? [])
      for (let i = 0; i < reads.length; i += BATCH_MAX)
        void this.send(host, reads.slice(i, i + BATCH_MAX), signal);
  }

  private async send(host: string, reads: PendingRead[], signal: AbortSignal): Promise<void> {
    try {
      const c = await this.pool.client(host);
      if (reads.length === 1) {
        const r = reads[0]!;
        r.resolve(await c.find<ApiRecord>(`/v1/${this.collection}/${r.id}`, { signal }));
        return;
      }
      const ids = [...new Set(reads.map((r) => r.id))];
      const query = ids.map((id) => `id=${encodeURIComponent(id)}`).join('&');
      let list: ApiList;
      try {
        list = await c.get<ApiList>(`/v1/${this.collection}?${query}`, { signal });
      } catch (e) {
        // One id the agent refuses (400) must fail its own read only, as separate reads would.
        if (!AgentApiError.isInstance(e) || e.status !== 400) throw e;
        for (const r of reads)
          c.find<ApiRecord>(`/v1/${this.collection}/${r.id}`, { signal }).then(r.resolve, r.reject);
        return;
      }
      const byId = new Map(list.items.map((r) => [r.id, r]));
      for (const r of reads) r.resolve(byId.get(r.id) ?? null);
    } catch (e) {
      for (const r of reads) r.reject(e);
    }
  }
}

/**
 * A type's host half through the agent of the resource's host, over the agent's idempotent API: PUT
 * creates or updates (by id, so a retried request never duplicates), GET reads, DELETE removes,
 * POST import adopts. Every request carries the call's signal, so a timeout or an interrupt cancels it.
 * Reads issued together are sent as one list call per host ({@link ReadBatcher}).
 * A type with a `localPath` input attribute is created from that file's data, streamed by this process
 * (see {@link createFromFile}); importing such a type takes the file's absolute path as external id.
 */
export function agentResourceIO(schema: ResourceSchema, pool: AgentPool): ResourceIO {
  const path = (id: string) => `/v1/${schema.collection}/${id}`;
  const fileAttr = attributes(schema).find((a) => a.input && a.localPath)?.name;
  const reads = new ReadBatcher(schema.collection, pool);
  return {
    async create(ctx, id, inputs) {
      const c = await pool.client(ctx.host);
      if (fileAttr) return flatten(await createFromFile(c, path(id), fileAttr, inputs, ctx));
      return flatten(await c.put<ApiRecord>(path(id), inputs, { signal: ctx.signal }));
    },
    async update(ctx, id, inputs) {
      const c = await pool.client(ctx.host);
      return flatten(await c.put<ApiRecord>(path(id), inputs, { signal: ctx.signal }));
    },
    async read(ctx, id) {
      const rec = await reads.read(ctx.host, id, ctx.signal);
      if (!rec) return null;
      const attrs = flatten(rec);
      if (fileAttr) await markChangedSource(attrs, fileAttr);
      return attrs;
    },
    async delete(ctx, id) {
      const c = await pool.client(ctx.host);
      await c.delete(path(id), { signal: ctx.signal });
    },
    async import(ctx, externalId) {
      const c = await pool.client(ctx.host);
      if (fileAttr) {
        const id = randomUUID();
        const rec = await createFromFile(c, path(id), fileAttr, { [fileAttr]: externalId }, ctx);
        return { id: rec.id, attributes: flatten(rec) };
      }
      const rec = await c.call<ApiRecord>(
        'POST',
        `/v1/${schema.collection}/import`,
        { externalId },
        { signal: ctx.signal },
      );
      return { id: rec.id, attributes: flatten(rec) };
    },
  };
}
