import { Defaulted, Name, Ref } from '../formats.js';
import { type AttributeProblem, defineResource } from '../resource.js';
import { Type } from '../typebox.generated.js';
import { isUnknown } from '../unknown.js';

/** Largest volume, in GiB (Cinder has no fixed limit; this one keeps sizes inside qemu-img's and JS's exact integers). */
export const MAX_VOLUME_GB = 65536;

/**
 * A block volume (Cinder volume): a qcow2 file in the agent's storage pool that outlives the servers it is
 * attached to. Blank, a copy-on-write clone of an image, or a copy of another volume. Growing `sizeGb` is
 * an in-place update (an attached volume is grown online, `virsh blockresize`, so the guest sees it without
 * a reboot); shrinking is refused at plan, as Cinder refuses `extend` to a smaller size.
 */
export const volume = defineResource({
  type: 'volume',
  collection: 'volumes',
  description: 'A block volume (qcow2 in the storage pool) that servers attach through volume_attachment.',
  check(inputs) {
    const out: AttributeProblem[] = [];
    if (inputs.image !== undefined && inputs.volume !== undefined)
      out.push({ path: ['volume'], message: 'conflicts with image; a volume has one source' });
    return out;
  },
  checkUpdate(prior, planned) {
    const before = prior.sizeGb;
    const after = planned.sizeGb;
    if (typeof before === 'number' && typeof after === 'number' && !isUnknown(after) && after < before)
      return [
        {
          path: ['sizeGb'],
          message: `cannot shrink a volume from ${before} GiB to ${after} GiB (data past the new end would be lost); volumes only grow`,
        },
      ];
    return [];
  },
  inputs: Type.Object(
    {
      name: Type.Optional(
        Name({ description: 'Display name; defaults to the resource name.', updatableLive: true }),
      ),
      sizeGb: Type.Integer({
        minimum: 1,
        maximum: MAX_VOLUME_GB,
        updatableLive: true,
        description:
          'Size in GiB. Growing it extends the volume in place (online when attached); shrinking is refused.',
      }),
      image: Type.Optional(
        Ref('image', {
          requiresReplace: true,
          description:
            'Image the volume starts as (a copy-on-write qcow2 overlay of the cached image, so creating it is as fast for 10 GiB as for 1); sizeGb must hold the image.',
        }),
      ),
      volume: Type.Optional(
        Ref('volume', {
          requiresReplace: true,
          description:
            "Volume whose data this one starts with (Cinder's source volume): a full, sparse copy, independent of it afterwards; sizeGb must hold it.",
        }),
      ),
      multiattach: Defaulted(
        Type.Boolean({
          default: false,
          requiresReplace: true,
          description:
            "Whether several servers may attach the volume at once (Cinder's multiattach; the guests must coordinate, e.g. with a cluster filesystem).",
        }),
      ),
    },
    { additionalProperties: false },
  ),
  outputs: Type.Object({
    status: Type.String({
      description: 'available, or in-use while attached or while a server boots from it (bootVolume).',
    }),
    path: Type.String({ description: 'The qcow2 file on the host.' }),
    attachments: Type.Array(
      Type.Object({ server: Type.String(), device: Type.String(), attachment: Type.String() }),
      {
        description:
          'Servers the volume is attached to, with guest device names; a server booting from it is listed with its root device (vda, sda or hda) and an empty attachment.',
      },
    ),
  }),
});
