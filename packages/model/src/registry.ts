import type { ResourceSchema } from './resource.js';
import { flavor } from './resources/flavor.js';
import { floating_ip } from './resources/floating_ip.js';
import { image } from './resources/image.js';
import { keypair } from './resources/keypair.js';
import { network } from './resources/network.js';
import { port } from './resources/port.js';
import { router } from './resources/router.js';
import { router_interface } from './resources/router_interface.js';
import { security_group } from './resources/security-group.js';
import { security_group_rule } from './resources/security-group-rule.js';
import { server } from './resources/server.js';
import { server_group } from './resources/server-group.js';
import { subnet } from './resources/subnet.js';
import { volume } from './resources/volume.js';
import { volumeAttachment } from './resources/volume-attachment.js';

/**
 * The one registry of resource types: one line per type. The `ResourceType` union, the engine's
 * providers, the construct classes, the agent's services and the front ends' schemas all derive from
 * it (a test fails when a registered type lacks one of them).
 */
export const registry = {
  image,
  network,
  subnet,
  server,
  keypair,
  flavor,
  volume,
  volume_attachment: volumeAttachment,
  security_group,
  security_group_rule,
  port,
  router,
  router_interface,
  floating_ip,
  server_group,
} as const;

/** The resource types Stratus knows. */
export type ResourceType = keyof typeof registry;

/** Every resource schema, by type. */
export const schemas: Record<ResourceType, ResourceSchema> = registry;

/** The resource types, in registration order. */
export const resourceTypes = Object.keys(registry) as ResourceType[];

/** Whether `t` names a resource type. */
export function isResourceType(t: unknown): t is ResourceType {
  return typeof t === 'string' && Object.hasOwn(registry, t);
}

export {
  CHECKSUM_PATTERN,
  IMAGE_DISK_FORMATS,
  isUrlSource,
  parseChecksum,
} from './resources/image.js';
export { NETWORK_DRIVERS } from './resources/network.js';
export { checkRule, DEFAULT_SECURITY_GROUP } from './resources/security-group.js';
export { checkBootVolume, defaultMachine } from './resources/server.js';
export {
  membersPerHost,
  SERVER_GROUP_POLICIES,
  type ServerGroupPolicy,
} from './resources/server-group.js';
export { MAX_VOLUME_GB } from './resources/volume.js';
export { VOLUME_DEVICE } from './resources/volume-attachment.js';
export {
  flavor,
  floating_ip,
  image,
  keypair,
  network,
  port,
  router,
  router_interface,
  security_group,
  security_group_rule,
  server,
  server_group,
  subnet,
  volume,
  volumeAttachment,
  volumeAttachment as volume_attachment,
};
