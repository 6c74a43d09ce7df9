import { attributes, type ResourceType, resourceTypes, schemas } from '@stratus/model';
import { AgentApiError } from '../client/errors.js';
import { agentHandlers } from '../handlers/index.js';
import type { Attributes, HandlerSet, ResourceHandler } from '../handlers/types.js';

/** A call the in-memory handlers received, in order. */
export interface MemoryCall {
  op: 'create' | 'read' | 'update' | 'delete';
  type: ResourceType;
  id: string;
}

/** Options to make in-memory handlers misbehave, for engine tests. */
export interface MemoryOptions {
  /** Milliseconds each create/update/delete takes. */
  delayMs?: number;
  /** Throw from create/update of resources for which this returns true (a create fails after storing). */
  failOn?: (op: MemoryCall['op'], type: ResourceType, inputs: Attributes | undefined) => boolean;
}

/**
 * Handlers that keep resources in memory instead of on hosts: for unit-testing stacks and the engine
 * without any agent. Computed attributes get deterministic fake values.
 */
export class MemoryHandlers {
  readonly objects = new Map<string, { type: ResourceType; attributes: Attributes }>();
  readonly calls: MemoryCall[] = [];
  /** Highest number of create/update/delete calls in flight at once. */
  maxConcurrent = 0;
  private inFlight = 0;

  constructor(private readonly opts: MemoryOptions = {}) {}

  private async busy<T>(fn: () => T): Promise<T> {
    this.inFlight++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.inFlight);
    try {
      if (this.opts.delayMs) await new Promise((r) => setTimeout(r, this.opts.delayMs));
      return fn();
    } finally {
      this.inFlight--;
    }
  }

  private computed(type: ResourceType, id: string, inputs: Attributes): Attributes {
    const out: Attributes = { ...inputs };
    for (const a of attributes(schemas[type])) {
      if (!a.computed || out[a.name] !== undefined) continue;
      const t = (a.schema as { type?: string }).type;
      out[a.name] = t === 'integer' ? 1 : t === 'array' ? [] : `${a.name}-${id.slice(0, 8)}`;
    }
    return out;
  }

  /** The handler set. Validation is the real handlers' (it is pure). */
  get handlers(): HandlerSet {
    const make = (type: ResourceType): ResourceHandler => ({
      type,
      schema: schemas[type],
      validate: (req) => agentHandlers[type].validate(req),
      create: (_ctx, req) =>
        this.busy(() => {
          this.calls.push({ op: 'create', type, id: req.id });
          const attrs = this.computed(type, req.id, req.inputs);
          this.objects.set(req.id, { type, attributes: attrs });
          // Fails after the object exists, like a create that timed out on the client's side.
          if (this.opts.failOn?.('create', type, req.inputs))
            throw new AgentApiError(500, 'injected', `injected failure creating ${type}`);
          return { attributes: attrs };
        }),
      update: (_ctx, req) =>
        this.busy(() => {
          this.calls.push({ op: 'update', type, id: req.id });
          if (this.opts.failOn?.('update', type, req.inputs))
            throw new AgentApiError(500, 'injected', `injected failure updating ${type}`);
          const attrs = { ...req.prior, ...req.inputs };
          this.objects.set(req.id, { type, attributes: attrs });
          return { attributes: attrs };
        }),
      read: async (_ctx, req) => {
        this.calls.push({ op: 'read', type, id: req.id });
        return { attributes: this.objects.get(req.id)?.attributes ?? null };
      },
      delete: (_ctx, req) =>
        this.busy(() => {
          this.calls.push({ op: 'delete', type, id: req.id });
          this.objects.delete(req.id);
        }),
    });
    return Object.fromEntries(resourceTypes.map((t) => [t, make(t)])) as HandlerSet;
  }
}
