import { parseCidr } from '@stratus/model';
import type { Diagnostics } from '../diagnostics/index.js';
import { fieldOf, type ResourceConfig, type StackConfig } from './config.js';
import { Ref, type Value } from './expr.js';
import { target } from './target.js';

/** The address range of a subnet whose CIDR is literal text, or undefined. */
function rangeOf(subnet: ResourceConfig): { lo: number; hi: number; cidr: string } | undefined {
  const cidr = subnet.properties.cidr;
  if (typeof cidr !== 'string') return undefined;
  try {
    const c = parseCidr(cidr);
    return { lo: c.network, hi: c.broadcast, cidr };
  } catch {
    return undefined;
  }
}

/**
 * What routers, their interfaces and floating IPs need from the stack, which the agent would otherwise
 * refuse only at apply (Neutron refuses the same): a floating IP, and a router's external gateway, on a
 * network of this stack that is not `external: true`; a subnet that is an interface of two routers (or
 * twice of one); two interfaces of one router whose subnets overlap (the router could not tell them
 * apart); and an interface on a subnet with `noGateway: true` (it takes the gateway address). Each problem is reported at the field to change. References to other stacks' objects (ids as
 * text) and CIDRs that are references are left to the agent.
 *
 * Returns dependency edges `[from, to]` the references alone do not give: a floating IP on an external
 * network depends on the routers with their gateway on it and on those routers' interfaces, since the
 * agent maps it through them (and they must outlive it on destroy).
 */
export function checkRouters(config: StackConfig, diags: Diagnostics): [string, string][] {
  const at = (rc: ResourceConfig, path: (string | number)[]) => ({
    field: fieldOf(rc, ['properties', ...path]),
    where: rc.locate(['properties', ...path]),
  });
  const error = (rc: ResourceConfig, path: (string | number)[], message: string) => {
    const a = at(rc, path);
    diags.error(message, a.field, a.where);
  };
  const notExternal = (net: ResourceConfig) =>
    net.properties.external !== true && !(net.properties.external instanceof Ref);

  /** Subnet name -> the interface (and its router) that first put it on a router. */
  const onRouter = new Map<string, { iface: string; router: string }>();
  /** Router name -> its interfaces' subnets with literal CIDRs. */
  const ranges = new Map<string, { subnet: string; lo: number; hi: number; cidr: string }[]>();

  /** External network name -> routers with their gateway on it. */
  const gatewayOn = new Map<string, string[]>();
  /** Router name -> its interfaces. */
  const interfacesOf = new Map<string, string[]>();
  const floating: { name: string; network: string }[] = [];

  for (const rc of config.resources.values()) {
    if (rc.type === 'floating_ip') {
      const net = target(config, rc.properties.network, 'network');
      if (net) floating.push({ name: rc.name, network: net.name });
      if (net && notExternal(net))
        error(
          rc,
          ['network'],
          `network ${net.name} is not external: floating IPs come from the subnets of a network with external: true`,
        );
    } else if (rc.type === 'router') {
      const gw = rc.properties.externalGateway;
      if (gw && typeof gw === 'object' && !Array.isArray(gw) && !(gw instanceof Ref)) {
        const net = target(config, (gw as Record<string, Value>).network, 'network');
        if (net) gatewayOn.set(net.name, [...(gatewayOn.get(net.name) ?? []), rc.name]);
        if (net && notExternal(net))
          error(
            rc,
            ['externalGateway', 'network'],
            `network ${net.name} is not external: a router's gateway is on a network with external: true`,
          );
      }
    } else if (rc.type === 'router_interface') {
      const router = target(config, rc.properties.router, 'router');
      const subnet = target(config, rc.properties.subnet, 'subnet');
      if (router) interfacesOf.set(router.name, [...(interfacesOf.get(router.name) ?? []), rc.name]);
      if (subnet?.properties.noGateway === true)
        error(
          rc,
          ['subnet'],
          `subnet ${subnet.name} has noGateway: true: a router interface takes the subnet's gateway address`,
        );
      if (!router || !subnet) continue;
      const prior = onRouter.get(subnet.name);
      if (prior) {
        error(
          rc,
          ['subnet'],
          prior.router === router.name
            ? `subnet ${subnet.name} is already an interface of router ${router.name} (${prior.iface})`
            : `subnet ${subnet.name} is already on router ${prior.router} (${prior.iface}); a subnet is on one router at most`,
        );
        continue;
      }
      onRouter.set(subnet.name, { iface: rc.name, router: router.name });
      const r = rangeOf(subnet);
      if (!r) continue;
      const list = ranges.get(router.name) ?? [];
      const o = list.find((x) => r.lo <= x.hi && x.lo <= r.hi);
      if (o)
        error(
          rc,
          ['subnet'],
          `subnet ${subnet.name} (${r.cidr}) overlaps subnet ${o.subnet} (${o.cidr}), already on router ${router.name}`,
        );
      else ranges.set(router.name, [...list, { subnet: subnet.name, ...r }]);
    }
  }
  const edges: [string, string][] = [];
  for (const f of floating)
    for (const r of gatewayOn.get(f.network) ?? []) {
      edges.push([f.name, r]);
      for (const i of interfacesOf.get(r) ?? []) edges.push([f.name, i]);
    }
  return edges;
}
