import type { ResourceType } from './meta.js';
import type { ResourceSchema } from './resource.js';
import { image } from './resources/image.js';
import { network } from './resources/network.js';
import { server } from './resources/server.js';
import { subnet } from './resources/subnet.js';

/** Every resource schema, by type. */
export const schemas: Record<ResourceType, ResourceSchema> = { image, network, subnet, server };

/** The resource types, in a stable order. */
export const resourceTypes = Object.keys(schemas) as ResourceType[];

/** Whether `t` names a resource type. */
export function isResourceType(t: unknown): t is ResourceType {
  return typeof t === 'string' && Object.hasOwn(schemas, t);
}

export { image, network, server, subnet };
