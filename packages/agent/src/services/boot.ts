/**
 * What a server boots from (its root disk's source): an image (an overlay of it), install media, or a
 * volume (Nova's boot from volume). For a boot volume the guest's facts come from the image the volume
 * was made from, following source volumes, as Cinder copies an image's properties into the volume's
 * volume_image_metadata and Nova reads them for a volume-backed server.
 */
import type { AgentContext } from './context.js';
import type { ImageRecord, ServerRecord, VolumeRecord } from './records.js';

type ServerSpec = ServerRecord['spec'];

/** The volume a server boots from and the image its guest facts come from (null: none, e.g. a blank volume). */
export async function bootVolumeImage(ctx: AgentContext, volume: VolumeRecord): Promise<ImageRecord | null> {
  let v: VolumeRecord | null = volume;
  // Bounded: a chain of copies is finite (a volume's source exists before it), but records are data.
  for (let hops = 0; v && hops < 64; hops++) {
    if (v.spec.image) return ctx.store.get<ImageRecord>('images', v.spec.image);
    v = v.spec.volume ? await ctx.store.get<VolumeRecord>('volumes', v.spec.volume) : null;
  }
  return null;
}

/**
 * The image whose properties decide server `spec`'s guest (os_type, hw_*): its image, its install media,
 * or its boot volume's source image; null when there is none (or it does not exist).
 */
export async function guestImageOf(ctx: AgentContext, spec: ServerSpec): Promise<ImageRecord | null> {
  if (spec.bootVolume) {
    const vol = await ctx.store.get<VolumeRecord>('volumes', spec.bootVolume);
    return vol ? bootVolumeImage(ctx, vol) : null;
  }
  const imageId = spec.image ?? spec.installMedia;
  return imageId ? ctx.store.get<ImageRecord>('images', imageId) : null;
}

/** The servers booting from volume `volumeId` (their `bootVolume`), oldest record first. */
export async function serversBootingFrom(ctx: AgentContext, volumeId: string): Promise<ServerRecord[]> {
  return (await ctx.store.list<ServerRecord>('servers')).filter((s) => s.spec.bootVolume === volumeId);
}
