import type { InputsOf, volume } from '@stratus/model';
import { InUse, InvalidRequest, NotFound } from '../errors.js';
import { logger } from '../host/log.js';
import { assertReference, ServiceBase } from './base.js';
import { serversBootingFrom } from './boot.js';
import { type AgentContext, paths } from './context.js';
import type { ImageRecord, VolumeAttachmentRecord, VolumeRecord } from './records.js';

const log = logger('volume');

type VolumeSpec = InputsOf<typeof volume>;
type VolumeStatus = VolumeRecord['status'];

const GIB = 1024 ** 3;

/** The attachment records of volume `id` (or of every volume), oldest first. */
export async function attachmentsOf(ctx: AgentContext, volumeId?: string): Promise<VolumeAttachmentRecord[]> {
  const all = await ctx.store.list<VolumeAttachmentRecord>('volume_attachments');
  return volumeId === undefined ? all : all.filter((a) => a.spec.volume === volumeId);
}

/**
 * Volumes (Cinder volumes): a qcow2 file per volume in the storage pool (`<state dir>/volumes`). Growing
 * `sizeGb` extends the file in place: through the hypervisor (`virsh blockresize`) for every running
 * server it is attached to, so their guests see the new size at once, else with qemu-img. A volume is
 * never shrunk, and not deleted while attached.
 */
export class VolumeService extends ServiceBase<VolumeSpec, VolumeStatus> {
  constructor(ctx: AgentContext) {
    super(ctx, 'volume');
  }

  protected override async check(id: string, spec: VolumeSpec): Promise<void> {
    if (spec.image) await assertReference(this.ctx, 'images', spec.image, ['image']);
    if (spec.volume) {
      if (spec.volume === id)
        throw new InvalidRequest('a volume cannot be its own source', { field: ['volume'] });
      await assertReference(this.ctx, 'volumes', spec.volume, ['volume']);
    }
  }

  protected async realize(
    id: string,
    spec: VolumeSpec,
    prior: VolumeRecord | null,
    changes: string[],
  ): Promise<VolumeRecord> {
    const path = paths.volume(this.ctx, id);
    const bytes = spec.sizeGb * GIB;
    // A record still `creating` never got its file (the agent stopped part-way): still a create.
    if (prior && prior.status.status !== 'creating') {
      if (spec.sizeGb < prior.spec.sizeGb)
        throw new InvalidRequest(
          `cannot shrink volume ${id} from ${prior.spec.sizeGb} GiB to ${spec.sizeGb} GiB; volumes only grow`,
          { field: ['sizeGb'], code: 'volume_shrink' },
        );
      if (changes.includes('sizeGb')) await this.extend(id, path, bytes);
      prior.spec = spec;
      await this.save(prior);
      return prior;
    }
    let source: Parameters<AgentContext['storage']['createVolume']>[0]['source'] = { kind: 'blank' };
    if (spec.image) {
      const img = (await assertReference(this.ctx, 'images', spec.image, ['image'])) as ImageRecord;
      if ((img.status.virtualSize ?? 0) > bytes)
        throw new InvalidRequest(
          `a volume of ${spec.sizeGb} GiB cannot hold image ${spec.image} (${img.status.virtualSize} bytes)`,
          { field: ['sizeGb'] },
        );
      source = { kind: 'image', imageId: spec.image, format: img.status.format ?? 'qcow2' };
    } else if (spec.volume) {
      const src = (await assertReference(this.ctx, 'volumes', spec.volume, ['volume'])) as VolumeRecord;
      if (src.spec.sizeGb > spec.sizeGb)
        throw new InvalidRequest(
          `a volume of ${spec.sizeGb} GiB cannot hold source volume ${src.id} (${src.spec.sizeGb} GiB)`,
          { field: ['sizeGb'] },
        );
      source = { kind: 'volume', path: paths.volume(this.ctx, src.id) };
    }
    // Recorded before the file exists, so a crash part-way leaves something a delete cleans up by.
    const rec = prior ?? this.newRecord(id, spec, { status: 'creating', path, attachments: [] }, {});
    rec.spec = spec;
    await this.save(rec);
    try {
      await this.ctx.storage.createVolume({ path, sizeBytes: bytes, source });
    } catch (e) {
      await this.ctx.storage.delete(path).catch(() => {});
      await this.ctx.store.delete(this.collection, id);
      throw e;
    }
    rec.status = { status: 'available', path, attachments: [] };
    await this.save(rec);
    return rec;
  }

  /**
   * Grows the file: online for each running server it is attached to (or that boots from it, its root
   * disk's device as the domain has it), else offline.
   */
  private async extend(id: string, path: string, bytes: number): Promise<void> {
    let online = false;
    const users = (await attachmentsOf(this.ctx, id)).map((a) => ({
      server: a.spec.server,
      target: a.internal.target,
    }));
    for (const s of await serversBootingFrom(this.ctx, id)) users.push({ server: s.id, target: undefined });
    for (const u of users) {
      const state = await this.ctx.compute.domainState(u.server);
      if (state !== 'running' && state !== 'paused') continue;
      const target = u.target ?? (await this.rootTarget(u.server, path));
      if (target) {
        await this.ctx.compute.resizeDisk(u.server, target, bytes);
        online = true;
      }
    }
    if (!online) await this.ctx.storage.growDisk(path, bytes);
    log.info('volume extended', { id, bytes, online });
  }

  /** The device (vda, sda) under which server `serverId`'s domain has the file `path`; undefined if none. */
  private async rootTarget(serverId: string, path: string): Promise<string | undefined> {
    try {
      return (await this.ctx.compute.inspectDomain(serverId)).disks.find((d) => d.path === path)?.target;
    } catch (e) {
      if (NotFound.isInstance(e)) return undefined;
      throw e;
    }
  }

  protected async remove(id: string, rec: VolumeRecord | null): Promise<void> {
    const booting = await serversBootingFrom(this.ctx, id);
    if (booting.length)
      throw new InUse(
        `volume ${id} is the boot volume of server(s) ${booting.map((s) => s.id).join(', ')}; delete the server(s) first (in the same plan they are deleted before the volume)`,
      );
    const attached = await attachmentsOf(this.ctx, id);
    if (attached.length)
      throw new InUse(
        `volume ${id} is attached to server(s) ${attached.map((a) => a.spec.server).join(', ')}; delete its attachment(s) first (in the same plan they are deleted before the volume)`,
      );
    // Copies of this volume do not block its delete: they are flattened, not backed by it.
    await this.ctx.storage.delete(rec?.status.path ?? paths.volume(this.ctx, id));
  }

  protected override async live(rec: VolumeRecord): Promise<VolumeStatus> {
    // A server booting from the volume has it as its root disk (listed first, as Nova lists it).
    const booting = await serversBootingFrom(this.ctx, rec.id);
    const roots = await Promise.all(
      booting.map(async (s) => ({
        server: s.id,
        device: (await this.rootTarget(s.id, rec.status.path ?? paths.volume(this.ctx, rec.id))) ?? '',
        attachment: '',
      })),
    );
    const attachments = [
      ...roots,
      ...(await attachmentsOf(this.ctx, rec.id)).map((a) => ({
        server: a.spec.server,
        device: a.internal.target ?? '',
        attachment: a.id,
      })),
    ];
    const status =
      rec.status.status === 'creating' ? 'creating' : attachments.length ? 'in-use' : 'available';
    return { ...rec.status, status, attachments };
  }
}
