import type { ResourceSchema } from '@stratus/model';
import type { ProviderContext, Values } from './types.js';

/**
 * The host half of a provider: how one type's objects are created, read, updated, deleted and adopted.
 * The agent implements it over HTTP ({@link agentResourceIO}); tests implement it in memory. Failures
 * are thrown (an `AgentApiError` with a code and field); {@link resourceProvider} turns them into
 * diagnostics.
 */
export interface ResourceIO {
  /** Creates the object with `inputs` (known input values only), or converges an existing one (idempotent by id). */
  create(ctx: ProviderContext, id: string, inputs: Values): Promise<Values>;
  update(ctx: ProviderContext, id: string, inputs: Values, prior: Values): Promise<Values>;
  /** The object's attributes, or null when it does not exist. */
  read(ctx: ProviderContext, id: string, prior: Values): Promise<Values | null>;
  /** Removes the object; succeeds when it is already gone. */
  delete(ctx: ProviderContext, id: string, prior: Values): Promise<void>;
  /** Adopts an object made outside Stratus. */
  import?(ctx: ProviderContext, externalId: string): Promise<{ id: string; attributes: Values }>;
}

/** Makes the {@link ResourceIO} of one type (e.g. bound to an agent pool, or to an in-memory world). */
export type ResourceIOFactory = (schema: ResourceSchema) => ResourceIO;
