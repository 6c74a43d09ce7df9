import { randomUUID } from 'node:crypto';
import type { ApiRecord, InputsOf, image } from '@stratus/model';
import { AgentError, InUse } from '../errors.js';
import { ServiceBase } from './base.js';
import type { AgentContext } from './context.js';
import type { ImageRecord, ServerRecord } from './records.js';

type ImageSpec = InputsOf<typeof image>;

/** Images: imported from a local file into the host image cache by the storage driver. */
export class ImageService extends ServiceBase<ImageSpec, ImageRecord['status'], Record<string, never>> {
  constructor(ctx: AgentContext) {
    super(ctx, 'image');
  }

  protected async realize(id: string, spec: ImageSpec, prior: ImageRecord | null): Promise<ImageRecord> {
    if (prior) {
      prior.spec = spec;
      await this.save(prior);
      return prior;
    }
    let info: Awaited<ReturnType<AgentContext['storage']['importImage']>>;
    try {
      info = await this.ctx.storage.importImage(id, spec.source);
    } catch (e) {
      throw AgentError.isInstance(e) && e.code.startsWith('image_') ? e.at(['source']) : e;
    }
    const rec = this.newRecord(id, spec, { ...info, status: 'active' }, {});
    await this.save(rec);
    return rec;
  }

  protected async remove(id: string): Promise<void> {
    const users = (await this.ctx.store.list<ServerRecord>('servers')).filter((s) => s.spec.image === id);
    if (users.length)
      throw new InUse(`image ${id} is in use by server(s) ${users.map((s) => s.id).join(', ')}`);
    await this.ctx.storage.deleteImage(id);
  }

  /** Importing an image file is creating an image from it under a new id. */
  import(path: string): Promise<ApiRecord> {
    return this.ensure(randomUUID(), { source: path });
  }
}
