import { Ref } from '../formats.js';
import { defineResource } from '../resource.js';
import { Type } from '../typebox.generated.js';

/** Guest device names a volume may be attached as: virtio disks vdc..vdz (vda is the root disk, vdb the config drive). */
export const VOLUME_DEVICE = '^(/dev/)?vd[c-z]$';

/**
 * A volume attached to a server (Nova's volume attachment): hot-plugged into the running guest and kept in
 * the domain's persistent definition; deleting it detaches the disk (waiting for the guest to release it)
 * and leaves the volume. A volume without `multiattach` takes one attachment.
 */
export const volumeAttachment = defineResource({
  type: 'volume_attachment',
  collection: 'volume_attachments',
  description: 'Attaches a volume to a server as a virtio disk, live (hot-plug) and persistently.',
  timeouts: { create: 300_000, delete: 300_000 },
  inputs: Type.Object(
    {
      server: Ref('server', { requiresReplace: true, description: 'Server to attach the volume to.' }),
      volume: Ref('volume', { requiresReplace: true, description: 'Volume to attach.' }),
      device: Type.Optional(
        Type.String({
          pattern: VOLUME_DEVICE,
          computed: true,
          requiresReplace: true,
          description:
            'Guest device name (`vdc` or `/dev/vdc`); default: the first free one from vdc. The guest also finds the volume at /dev/disk/by-id/virtio-<first 20 characters of the volume id>.',
        }),
      ),
    },
    { additionalProperties: false },
  ),
  outputs: Type.Object({
    status: Type.String({ description: 'attached, or detached when the server or its domain is gone.' }),
    serial: Type.String({
      description: 'The disk serial the guest sees (the first 20 characters of the volume id).',
    }),
  }),
});
