import { Defaulted, KeyedMap, METADATA_KEY, MemoryMb, Name, Vcpus } from '../formats.js';
import { defineResource } from '../resource.js';
import { Type } from '../typebox.generated.js';

/**
 * A flavor (Nova flavor): a named server size. Servers take `flavor: ${small}` instead of inline vcpus
 * and memoryMb; their root disk is grown to `diskGb` (0: the image's own size, as in Nova). Flavors are
 * immutable in Nova, so every change replaces (and replaces the servers that use it).
 */
export const flavor = defineResource({
  type: 'flavor',
  collection: 'flavors',
  description: 'A named server size: vCPUs, memory, root disk size and extra specs.',
  inputs: Type.Object(
    {
      name: Type.Optional(
        Name({ requiresReplace: true, description: 'Flavor name; defaults to the resource name.' }),
      ),
      vcpus: Vcpus({ requiresReplace: true, description: 'vCPUs of its servers.' }),
      ramMb: MemoryMb({ requiresReplace: true, description: 'Memory of its servers, in MiB.' }),
      diskGb: Defaulted(
        Type.Integer({
          minimum: 0,
          maximum: 65536,
          default: 0,
          requiresReplace: true,
          description: "Root disk size in GiB; the image's disk is grown to it. 0: the image's own size.",
        }),
      ),
      extraSpecs: Defaulted(
        KeyedMap(METADATA_KEY, Type.String({ maxLength: 255 }), {
          default: {},
          requiresReplace: true,
          description: 'Nova-style extra specs (`hw:cpu_policy`, ...), kept with the flavor.',
        }),
      ),
    },
    { additionalProperties: false },
  ),
  outputs: Type.Object({}),
});
