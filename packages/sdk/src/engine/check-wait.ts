import { parseWaitFor } from '@stratus/model';
import type { Diagnostics } from '../diagnostics/index.js';
import { fieldOf, type ResourceConfig, type StackConfig } from './config.js';
import { Ref, type Value } from './expr.js';
import { target } from './target.js';

/**
 * A server's `wait` that can never end, refused at validate and plan rather than found by a timeout at
 * apply: `wait.for` dhcp (and tcp:PORT, which waits for the lease first) waits for the guest's DHCP
 * lease on its first NIC, and a subnet with `enableDhcp: false` hands out none (the guest configures
 * its address from network_data.json, as on a Neutron subnet without DHCP). Only what the stack itself
 * says is checked: the first NIC's subnet named directly, through a port's fixed IP, or as the only
 * subnet of this stack on the NIC's (or port's) network; anything else is the agent's at apply.
 */
export function checkServerWaits(config: StackConfig, diags: Diagnostics): void {
  for (const rc of config.resources.values()) {
    if (rc.type !== 'server') continue;
    const wait = rc.properties.wait;
    if (!isMap(wait) || typeof wait.for !== 'string') continue;
    const kind = parseWaitFor(wait.for)?.kind;
    if (kind !== 'dhcp' && kind !== 'tcp') continue;
    const first = Array.isArray(rc.properties.networks) ? rc.properties.networks[0] : undefined;
    if (!isMap(first)) continue;
    const sub = firstSubnet(config, first);
    if (sub?.properties.enableDhcp !== false) continue;
    diags.error(
      `waits for the guest's DHCP lease on its first NIC, but that NIC's subnet ${sub.name} has enableDhcp false, so no lease ever comes (the guest configures its address from the config drive): wait for none, or enable DHCP on the subnet`,
      fieldOf(rc, ['properties', 'wait', 'for']),
      rc.locate(['properties', 'wait', 'for']),
    );
  }
}

/** The subnet of this stack a NIC (`networks[i]`) takes its address from, when the stack says which. */
function firstSubnet(config: StackConfig, nic: Record<string, Value>): ResourceConfig | undefined {
  const direct = target(config, nic.subnet, 'subnet');
  if (direct) return direct;
  const port = target(config, nic.port, 'port');
  if (port) {
    const fixed = Array.isArray(port.properties.fixedIps) ? port.properties.fixedIps[0] : undefined;
    const named = isMap(fixed) ? target(config, fixed.subnet, 'subnet') : undefined;
    return named ?? onlySubnetOf(config, target(config, port.properties.network, 'network'));
  }
  return nic.subnet === undefined ? onlySubnetOf(config, target(config, nic.network, 'network')) : undefined;
}

/** The one subnet of this stack on `net` (undefined when it has none or several). */
function onlySubnetOf(config: StackConfig, net: ResourceConfig | undefined): ResourceConfig | undefined {
  if (!net) return undefined;
  const subs = [...config.resources.values()].filter(
    (r) => r.type === 'subnet' && target(config, r.properties.network, 'network') === net,
  );
  return subs.length === 1 ? subs[0] : undefined;
}

const isMap = (v: unknown): v is Record<string, Value> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Ref);
