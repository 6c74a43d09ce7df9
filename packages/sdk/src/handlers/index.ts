import { checkSubnetRanges, image, network, server, subnet } from '@stratus/model';
import type { Value } from '../engine/expr.js';
import { agentHandler } from './agent-handler.js';
import type { HandlerSet } from './types.js';

const known = (v: Value | undefined): v is string => typeof v === 'string';

/** Server statuses that mean its domain was changed outside Stratus; an update (the agent's ensure) repairs them. */
const SERVER_DRIFT: Record<string, string> = {
  MISSING: 'its libvirt domain was deleted outside Stratus',
  SHUTOFF: 'its libvirt domain was stopped outside Stratus',
  PAUSED: 'its libvirt domain was paused outside Stratus',
  ERROR: 'its libvirt domain crashed',
};

/** The handlers that realize resources through stratus-agent. */
export const agentHandlers: HandlerSet = {
  image: agentHandler(image),
  network: agentHandler(network, {
    drift: (a) => (a.status === 'DOWN' ? `its bridge ${a.bridge} was deleted outside Stratus` : undefined),
  }),
  subnet: agentHandler(subnet, {
    validate: (p) => {
      if (!known(p.cidr)) return [];
      const pools = Array.isArray(p.allocationPools)
        ? (p.allocationPools as { start: string; end: string }[])
        : undefined;
      return checkSubnetRanges(p.cidr, known(p.gatewayIp) ? p.gatewayIp : undefined, pools);
    },
  }),
  server: agentHandler(server, {
    validate: (p) => {
      const nets = Array.isArray(p.networks) ? p.networks : [];
      return nets.flatMap((n, i) =>
        n && typeof n === 'object' && !Array.isArray(n) && !('network' in n) && !('subnet' in n)
          ? [{ path: ['networks', i], message: 'needs `network` or `subnet`' }]
          : [],
      );
    },
    drift: (a) =>
      SERVER_DRIFT[a.status as string] ??
      (a.drift ? `its libvirt domain was changed outside Stratus: ${a.drift}` : undefined),
  }),
};

export { type AgentRecord, agentHandler } from './agent-handler.js';
export type * from './types.js';
