/**
 * The agent's services: one per resource type, each on the shared {@link ServiceBase}, plus the internal
 * port service. {@link serviceFactories} is keyed by `ResourceType`, so a type registered in the model
 * without an agent service does not compile.
 */
import type { ResourceType } from '@stratus/model';
import type { ResourceService } from './base.js';
import type { AgentContext } from './context.js';
import { Firewalls } from './firewall.js';
import { FlavorService } from './flavor.js';
import { ImageService } from './image.js';
import { KeypairService } from './keypair.js';
import { NetworkService, SubnetService } from './network.js';
import { PortService } from './port.js';
import { PortResourceService } from './port-resource.js';
import { FloatingIpService, RouterInterfaceService, RouterService } from './router.js';
import { SecurityGroupRuleService, SecurityGroupService } from './security-group.js';
import { ServerService } from './server.js';
import { ServerGroupService } from './server-group.js';
import { VolumeService } from './volume.js';
import { VolumeAttachmentService } from './volume-attachment.js';

export type { ResourceService } from './base.js';
export { type AgentContext, paths } from './context.js';
export { PortService } from './port.js';
export { RecordStore } from './store.js';

/** Every resource type's service. */
export type ServiceMap = Record<ResourceType, ResourceService>;

/** How each resource type's service is made, given the context, the shared port service and firewalls. */
export const serviceFactories: Record<
  ResourceType,
  (ctx: AgentContext, ports: PortService, firewalls: Firewalls) => ResourceService
> = {
  image: (ctx) => new ImageService(ctx),
  network: (ctx, ports) => new NetworkService(ctx, ports),
  subnet: (ctx, ports) => new SubnetService(ctx, ports),
  server: (ctx, ports, fw) => new ServerService(ctx, ports, fw),
  keypair: (ctx) => new KeypairService(ctx),
  flavor: (ctx) => new FlavorService(ctx),
  volume: (ctx) => new VolumeService(ctx),
  volume_attachment: (ctx) => new VolumeAttachmentService(ctx),
  security_group: (ctx, ports, fw) => new SecurityGroupService(ctx, ports, fw),
  security_group_rule: (ctx, _ports, fw) => new SecurityGroupRuleService(ctx, fw),
  port: (ctx, ports, fw) => new PortResourceService(ctx, ports, fw),
  router: (ctx, ports) => new RouterService(ctx, ports),
  router_interface: (ctx) => new RouterInterfaceService(ctx),
  floating_ip: (ctx, ports) => new FloatingIpService(ctx, ports),
  server_group: (ctx) => new ServerGroupService(ctx),
};

/** The services of an agent, with its port service and the network service (which supervises DHCP). */
export function createServices(ctx: AgentContext): {
  services: ServiceMap;
  ports: PortService;
  networks: NetworkService;
  firewalls: Firewalls;
} {
  const ports = new PortService(ctx);
  const firewalls = new Firewalls(ctx, ports);
  const services = Object.fromEntries(
    Object.entries(serviceFactories).map(([type, make]) => [type, make(ctx, ports, firewalls)]),
  ) as ServiceMap;
  return { services, ports, networks: services.network as NetworkService, firewalls };
}
