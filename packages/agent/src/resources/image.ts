import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import type { AttributesOf, InputsOf, image } from '@stratus/model';
import { AgentError, InUse } from '../errors.js';
import { importImage } from '../storage/images.js';
import type { AgentRecordFile } from '../store/records.js';
import { specChanges } from './changes.js';
import { type AgentContext, newRecord, paths, publicRecord, type ResourceService } from './context.js';

type ImageSpec = InputsOf<typeof image>;
/** An image as the agent records it. */
export type ImageRecord = AgentRecordFile<ImageSpec, Partial<AttributesOf<typeof image>>>;

/** Images: imported from a local file into the host image cache (`<stateDir>/images/<id>`). */
export function imageService(ctx: AgentContext): ResourceService {
  const get = async (id: string) => ctx.store.get<ImageRecord>('images', id);
  const svc: ResourceService = {
    async ensure(id, body) {
      const spec = body as ImageSpec;
      return ctx.locks.run(id, async () => {
        const cur = await get(id);
        if (cur) {
          specChanges('image', cur.spec, spec);
          cur.spec = spec;
          cur.updatedAt = new Date().toISOString();
          await ctx.store.put('images', cur);
          return publicRecord(cur);
        }
        await mkdir(paths.images(ctx), { recursive: true, mode: 0o711 });
        let info: Awaited<ReturnType<typeof importImage>>;
        try {
          info = await importImage(spec.source, paths.image(ctx, id));
        } catch (e) {
          throw AgentError.isInstance(e) && e.code.startsWith('image_') ? e.at(['source']) : e;
        }
        const rec = newRecord(id, 'image', spec, { ...info, status: 'active' }, {});
        await ctx.store.put('images', rec);
        return publicRecord(rec);
      });
    },
    async get(id) {
      const rec = await get(id);
      return rec ? publicRecord(rec) : null;
    },
    async list() {
      return (await ctx.store.list<ImageRecord>('images')).map(publicRecord);
    },
    async delete(id) {
      await ctx.locks.run(id, async () => {
        const users = (await ctx.store.list('servers')).filter((s) => s.spec.image === id);
        if (users.length)
          throw new InUse(`image ${id} is in use by server(s) ${users.map((s) => s.id).join(', ')}`);
        await rm(paths.image(ctx, id), { force: true });
        await ctx.store.delete('images', id);
      });
    },
    /** Importing an image file is creating an image from it under a new id. */
    import: (path) => svc.ensure(randomUUID(), { source: path }),
  };
  return svc;
}
