import { Name } from '../formats.js';
import { defineResource } from '../resource.js';
import { Type } from '../typebox.generated.js';

/** A disk image (Glance image) imported into each host's image cache. */
export const image = defineResource({
  type: 'image',
  collection: 'images',
  description: 'A bootable disk image (qcow2 or raw) imported into the host image cache.',
  inputs: Type.Object(
    {
      name: Type.Optional(Name({ description: 'Display name.', updatableLive: true })),
      source: Type.String({
        minLength: 1,
        format: 'stratus-local-path',
        localPath: true,
        requiresReplace: true,
        description:
          'Path of the image file to import, read by stratus with your permissions and sent to the agent; ' +
          'relative paths are relative to the stack file.',
      }),
    },
    { additionalProperties: false },
  ),
  outputs: Type.Object({
    format: Type.String({ description: 'Disk format detected by qemu-img (qcow2, raw).' }),
    virtualSize: Type.Integer({ description: 'Virtual disk size in bytes.' }),
    sizeBytes: Type.Integer({ description: 'Size of the cached file in bytes.' }),
    checksum: Type.String({ description: 'SHA-256 of the imported file.' }),
    status: Type.String({ description: 'active once imported.' }),
  }),
});
