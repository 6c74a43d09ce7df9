import { type InputsOf, isUnknown, type volumeAttachment } from '@stratus/model';
import type { DiskDevice } from '../compute/types.js';
import { Conflict, NotFound } from '../errors.js';
import { logger } from '../host/log.js';
import { assertReference, ServiceBase } from './base.js';
import { serversBootingFrom } from './boot.js';
import { type AgentContext, paths } from './context.js';
import type { ServerRecord, VolumeAttachmentRecord, VolumeRecord } from './records.js';
import { attachmentsOf } from './volume.js';

const log = logger('volume_attachment');

type AttachmentSpec = InputsOf<typeof volumeAttachment>;
type AttachmentStatus = VolumeAttachmentRecord['status'];

/** Guest devices a server's own disks take: the root disk and the config drive. */
const RESERVED = new Set(['vda', 'vdb']);

/**
 * The lock that serializes attachments of one volume (taken after the server's, never before), and a
 * server's claim of it as its boot volume.
 */
export const volumeAttachLock = (volumeId: string) => `attach-volume:${volumeId}`;

/** The serial a volume's disk shows the guest: the first 20 characters of its id, as Nova's does. */
export const volumeSerial = (volumeId: string) => volumeId.slice(0, 20);

/** The disk device of a volume attached as `target` (virtio, qcow2, with the volume's serial and a user alias). */
export function volumeDisk(ctx: AgentContext, volumeId: string, target: string): DiskDevice {
  return {
    kind: 'disk',
    path: paths.volume(ctx, volumeId),
    format: 'qcow2',
    target,
    bus: 'virtio',
    serial: volumeSerial(volumeId),
    alias: `ua-${volumeId}`,
  };
}

/** The disks of the volumes attached to server `serverId`, for its domain definition. */
export async function attachedDisks(ctx: AgentContext, serverId: string): Promise<DiskDevice[]> {
  return (await attachmentsOf(ctx))
    .filter((a) => a.spec.server === serverId && a.internal.target)
    .map((a) => volumeDisk(ctx, a.spec.volume, a.internal.target!));
}

/**
 * Volume attachments (Nova's): hot-plug a volume into a server's domain, live and in its persistent
 * definition (only the definition while it is shut off); deleting one detaches the disk, waiting for the
 * guest to release it. Works under the server's lock (its domain changes) and then the volume's, so two
 * attachments of one volume are decided one after the other: without `multiattach` the second is refused.
 */
export class VolumeAttachmentService extends ServiceBase<
  AttachmentSpec,
  AttachmentStatus,
  { target?: string }
> {
  constructor(ctx: AgentContext) {
    super(ctx, 'volume_attachment');
  }

  protected override lockKey(id: string, spec?: AttachmentSpec): string {
    return spec?.server ?? id;
  }

  protected override async check(_id: string, spec: AttachmentSpec): Promise<void> {
    await assertReference(this.ctx, 'servers', spec.server, ['server']);
    await assertReference(this.ctx, 'volumes', spec.volume, ['volume']);
  }

  protected async realize(
    id: string,
    spec: AttachmentSpec,
    prior: VolumeAttachmentRecord | null,
  ): Promise<VolumeAttachmentRecord> {
    if (prior?.internal.target) {
      // Every attribute replaces: an existing attachment is the one asked for. Re-plug it if its domain lost it.
      prior.spec = spec;
      await this.save(prior);
      return prior;
    }
    return this.locked(volumeAttachLock(spec.volume), async () => {
      const vol = (await assertReference(this.ctx, 'volumes', spec.volume, ['volume'])) as VolumeRecord;
      const server = (await assertReference(this.ctx, 'servers', spec.server, ['server'])) as ServerRecord;
      // A server booting from the volume has it attached (as its root disk).
      const others = [
        ...(await attachmentsOf(this.ctx, vol.id)).filter((a) => a.id !== id).map((a) => a.spec.server),
        ...(await serversBootingFrom(this.ctx, vol.id)).map((s) => s.id),
      ];
      if (server.spec.bootVolume === vol.id)
        throw new Conflict(`volume ${vol.id} is the boot volume (root disk) of server ${server.id}`, {
          code: 'volume_attached',
          field: ['volume'],
        });
      if (others.includes(server.id))
        throw new Conflict(`volume ${vol.id} is attached to server ${server.id} already`, {
          code: 'volume_attached',
          field: ['volume'],
        });
      if (others.length && !vol.spec.multiattach)
        throw new Conflict(
          `volume ${vol.id} is attached to server ${others[0]!} already and has no multiattach`,
          { code: 'volume_attached', field: ['volume'] },
        );
      const taken = new Set([
        ...RESERVED,
        ...(await attachmentsOf(this.ctx))
          .filter((a) => a.spec.server === server.id && a.id !== id && a.internal.target)
          .map((a) => a.internal.target!),
      ]);
      let target: string | undefined;
      if (spec.device !== undefined && !isUnknown(spec.device)) {
        target = spec.device.replace(/^\/dev\//, '');
        if (taken.has(target))
          throw new Conflict(`device ${target} of server ${server.id} is taken`, {
            code: 'device_taken',
            field: ['device'],
          });
      } else {
        for (let c = 'c'.charCodeAt(0); c <= 'z'.charCodeAt(0) && !target; c++)
          if (!taken.has(`vd${String.fromCharCode(c)}`)) target = `vd${String.fromCharCode(c)}`;
        if (!target)
          throw new Conflict(`server ${server.id} has no free disk device`, {
            code: 'device_taken',
            field: ['server'],
          });
      }
      const rec =
        prior ?? this.newRecord(id, spec, { status: 'attaching', serial: volumeSerial(vol.id) }, {});
      rec.spec = spec;
      rec.internal.target = target;
      await this.save(rec);
      try {
        await this.ctx.compute.attachDevice(server.id, volumeDisk(this.ctx, vol.id, target));
      } catch (e) {
        await this.ctx.store.delete(this.collection, id);
        throw e;
      }
      rec.status = {
        status: 'attached',
        serial: volumeSerial(vol.id),
        ...(spec.device ? {} : { device: target }),
      };
      await this.save(rec);
      log.info('volume attached', { id, server: server.id, volume: vol.id, target });
      return rec;
    });
  }

  protected async remove(id: string, rec: VolumeAttachmentRecord | null): Promise<void> {
    if (!rec?.internal.target) return;
    try {
      await this.ctx.compute.detachDevice(
        rec.spec.server,
        volumeDisk(this.ctx, rec.spec.volume, rec.internal.target),
      );
    } catch (e) {
      // The server's domain is gone (deleted with the server): nothing holds the volume.
      if (!NotFound.isInstance(e)) throw e;
    }
    log.info('volume detached', { id, server: rec.spec.server, volume: rec.spec.volume });
  }

  protected override async live(rec: VolumeAttachmentRecord): Promise<AttachmentStatus> {
    const state = await this.ctx.compute.domainState(rec.spec.server);
    return {
      ...rec.status,
      ...(rec.spec.device ? {} : { device: rec.internal.target }),
      status: state === 'absent' ? 'detached' : rec.status.status,
    };
  }
}
