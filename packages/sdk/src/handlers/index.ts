import type { Value } from '../engine/expr.js';
import { checkSubnetRanges, image, network, server, subnet } from '../model/index.js';
import { agentHandler } from './agent-handler.js';
import type { HandlerSet } from './types.js';

const known = (v: Value | undefined): v is string => typeof v === 'string';

/** The handlers that realize resources through stratus-agent. */
export const agentHandlers: HandlerSet = {
  image: agentHandler(image),
  network: agentHandler(network),
  subnet: agentHandler(subnet, (p) => {
    if (!known(p.cidr)) return [];
    const pools = Array.isArray(p.allocationPools)
      ? (p.allocationPools as { start: string; end: string }[])
      : undefined;
    return checkSubnetRanges(p.cidr, known(p.gatewayIp) ? p.gatewayIp : undefined, pools);
  }),
  server: agentHandler(server, (p) => {
    const nets = Array.isArray(p.networks) ? p.networks : [];
    return nets.flatMap((n, i) =>
      n && typeof n === 'object' && !Array.isArray(n) && !('network' in n) && !('subnet' in n)
        ? [{ path: ['networks', i], message: 'needs `network` or `subnet`' }]
        : [],
    );
  }),
};

export { type AgentRecord, agentHandler } from './agent-handler.js';
export type * from './types.js';
