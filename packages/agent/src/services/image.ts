import { randomUUID } from 'node:crypto';
import { type ApiProgress, type ApiRecord, type InputsOf, type image, isUrlSource } from '@stratus/model';
import { AgentError, Conflict, InUse } from '../errors.js';
import { isResourceId } from '../host/names.js';
import type { WrittenData } from '../storage/copy.js';
import type { ImageData, UploadOptions } from '../storage/driver.js';
import { type EnsureOptions, ServiceBase } from './base.js';
import type { AgentContext } from './context.js';
import type { ImageRecord, ServerRecord, VolumeRecord } from './records.js';

type ImageSpec = InputsOf<typeof image>;

/**
 * Images: a new image's data is either uploaded by the client first (`PUT /v1/images/{id}/file`, then the
 * spec with `?uploaded=<content checksum>`: the CLI reads the file with its user's permissions and sends
 * its data extents), or read by the
 * agent from `source` when the operator allowed its directory. `source` is recorded either way.
 */
export class ImageService extends ServiceBase<ImageSpec, ImageRecord['status'], Record<string, never>> {
  /** Downloads in flight, by image id: bytes so far and the announced total. */
  private readonly downloads = new Map<string, ApiProgress>();

  constructor(ctx: AgentContext) {
    super(ctx, 'image');
  }

  progress(id: string): ApiProgress | null {
    return this.downloads.get(id) ?? null;
  }

  protected async realize(
    id: string,
    spec: ImageSpec,
    prior: ImageRecord | null,
    _changes: string[],
    opts: EnsureOptions,
  ): Promise<ImageRecord> {
    if (prior) {
      prior.spec = spec;
      await this.save(prior);
      return prior;
    }
    let info: Awaited<ReturnType<AgentContext['storage']['importImage']>>;
    const data: ImageData =
      opts.uploaded !== undefined
        ? { uploaded: opts.uploaded, label: spec.source }
        : isUrlSource(spec.source)
          ? {
              url: spec.source,
              signal: opts.signal,
              progress: (p) => this.downloads.set(id, { bytes: p.bytes, total: p.total }),
            }
          : { path: spec.source };
    try {
      info = await this.ctx.storage.importImage(id, data, {
        checksum: spec.checksum,
        diskFormat: spec.diskFormat,
      });
    } catch (e) {
      if (!AgentError.isInstance(e) || !e.code.startsWith('image_')) throw e;
      const field =
        e.code === 'image_checksum_mismatch'
          ? 'checksum'
          : e.code === 'image_format_mismatch'
            ? 'diskFormat'
            : 'source';
      throw e.at([field]);
    } finally {
      this.downloads.delete(id);
    }
    // Computed inputs are recorded as computed (the declared value, else what the import found), so a
    // later request that carries them (an update after `stratus import`) is no change to them.
    const rec = this.newRecord(
      id,
      { ...spec, diskFormat: spec.diskFormat ?? info.sourceFormat },
      {
        format: info.format,
        virtualSize: info.virtualSize,
        sizeBytes: info.sizeBytes,
        // What was declared stays as declared (sha512, a prefix), so the next plan sees no change; none is
        // computed otherwise (a plain digest would cost a sparse file's apparent size).
        ...(spec.checksum !== undefined ? { checksum: spec.checksum } : {}),
        contentChecksum: info.checksum,
        diskFormat: info.sourceFormat,
        status: 'active',
        importedAt: new Date().toISOString(),
      },
      {},
    );
    await this.save(rec);
    return rec;
  }

  /**
   * Stores data for a new image `id` (an existing image's data never changes: replace the image). Runs
   * under the image's lock: an upload for an image whose create is in flight (a client that timed out and
   * came back) waits for it, then is refused with `image_exists`, and the client takes that image.
   */
  async upload(id: string, body: AsyncIterable<Uint8Array>, opts: UploadOptions = {}): Promise<WrittenData> {
    if (!isResourceId(id)) throw new Error(`image id ${id} is not a resource id`);
    return this.locked(this.lockKey(id), async () => {
      if (await this.record(id))
        throw new Conflict(`image ${id} exists; its data never changes (replace the image instead)`, {
          code: 'image_exists',
        });
      return this.ctx.storage.stageUpload(id, body, opts);
    });
  }

  protected async remove(id: string): Promise<void> {
    const users = (await this.ctx.store.list<ServerRecord>('servers')).filter(
      (s) =>
        s.spec.image === id ||
        // Install media are in use until setup has finished (they are detached then).
        ((s.spec.installMedia === id || s.spec.driverMedia === id) &&
          s.internal.install?.state !== 'installed'),
    );
    if (users.length)
      throw new InUse(`image ${id} is in use by server(s) ${users.map((s) => s.id).join(', ')}`);
    // Volumes made from the image are overlays of its cached file.
    const volumes = (await this.ctx.store.list<VolumeRecord>('volumes')).filter((v) => v.spec.image === id);
    if (volumes.length)
      throw new InUse(`image ${id} is in use by volume(s) ${volumes.map((v) => v.id).join(', ')}`);
    await this.ctx.storage.deleteImage(id);
  }

  /** Importing an image file is creating an image from it under a new id (from allowed directories only). */
  import(path: string): Promise<ApiRecord> {
    return this.ensure(randomUUID(), { source: path });
  }
}
