/**
 * The provider protocol (see types.ts): request/response values every front end uses, the provider of a
 * type derived from its schema, and the providers of every registered type bound to an agent pool.
 */
import { type ResourceType, registry } from '@stratus/model';
import type { AgentPool } from '../client/pool.js';
import { agentResourceIO } from './agent-io.js';
import type { ResourceIOFactory } from './io.js';
import { resourceProvider } from './provider.js';
import type { ProviderSet } from './types.js';

/** Providers for every registered type, with each type's host half made by `io`. */
export function providersFor(io: ResourceIOFactory): ProviderSet {
  const out: Partial<ProviderSet> = {};
  for (const [type, schema] of Object.entries(registry))
    out[type as ResourceType] = resourceProvider(schema, io(schema));
  return out as ProviderSet;
}

/** Providers for every registered type that realize resources through the agents of `pool`. */
export function agentProviders(pool: AgentPool): ProviderSet {
  return providersFor((schema) => agentResourceIO(schema, pool));
}

export { agentResourceIO } from './agent-io.js';
export type * from './io.js';
export { errorDiagnostic, knownInputs, plannedCreate, resourceProvider } from './provider.js';
export type * from './types.js';
