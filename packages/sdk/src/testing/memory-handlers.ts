import { attributes, type ResourceType, schemas } from '@stratus/model';
import { AgentApiError } from '../client/errors.js';
import { providersFor } from '../protocol/index.js';
import type { ResourceIO } from '../protocol/io.js';
import type { ProviderSet, Values } from '../protocol/types.js';

/** Attribute values of a resource as recorded in memory. */
export type Attributes = Values;

/** A call the in-memory world received, in order. */
export interface MemoryCall {
  op: 'create' | 'read' | 'update' | 'delete';
  type: ResourceType;
  id: string;
}

/** Options to make the in-memory world misbehave, for engine tests. */
export interface MemoryOptions {
  /** Milliseconds each create/update/delete takes (cut short when the call's signal aborts). */
  delayMs?: number;
  /** Throw from create/update of resources for which this returns true (a create fails after storing). */
  failOn?: (op: MemoryCall['op'], type: ResourceType, inputs: Attributes | undefined) => boolean;
}

/** Waits `ms`, or rejects with the signal's reason when it aborts first. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A world that keeps resources in memory instead of on hosts: its providers are the real ones (the
 * same validation, plan and diff as against agents), with the host half in memory. For unit-testing
 * stacks and the engine without any agent. Computed attributes get deterministic fake values.
 */
export class MemoryHandlers {
  readonly objects = new Map<string, { type: ResourceType; attributes: Attributes }>();
  readonly calls: MemoryCall[] = [];
  /** Highest number of create/update/delete calls in flight at once. */
  maxConcurrent = 0;
  private inFlight = 0;
  private made?: ProviderSet;

  constructor(private readonly opts: MemoryOptions = {}) {}

  private async busy<T>(signal: AbortSignal, fn: () => T): Promise<T> {
    this.inFlight++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.inFlight);
    try {
      if (this.opts.delayMs) await pause(this.opts.delayMs, signal);
      return fn();
    } finally {
      this.inFlight--;
    }
  }

  private computed(type: ResourceType, id: string, inputs: Attributes): Attributes {
    const out: Attributes = { ...inputs };
    const requiredOutputs = new Set(schemas[type].outputs.required ?? []);
    for (const a of attributes(schemas[type])) {
      if (!a.computed || out[a.name] !== undefined) continue;
      // Optional outputs (a server's `drift`) are absent, as a host reports them when all is well.
      if (!a.input && !requiredOutputs.has(a.name)) continue;
      const t = (a.schema as { type?: string }).type;
      out[a.name] = t === 'integer' ? 1 : t === 'array' ? [] : `${a.name}-${id.slice(0, 8)}`;
    }
    return out;
  }

  /** The host half of type `type`, in memory. */
  io(type: ResourceType): ResourceIO {
    return {
      create: (ctx, id, inputs) =>
        this.busy(ctx.signal, () => {
          this.calls.push({ op: 'create', type, id });
          const attrs = this.computed(type, id, inputs);
          this.objects.set(id, { type, attributes: attrs });
          // Fails after the object exists, like a create that timed out on the client's side.
          if (this.opts.failOn?.('create', type, inputs))
            throw new AgentApiError(500, 'injected', `injected failure creating ${type}`);
          return attrs;
        }),
      update: (ctx, id, inputs, prior) =>
        this.busy(ctx.signal, () => {
          this.calls.push({ op: 'update', type, id });
          if (this.opts.failOn?.('update', type, inputs))
            throw new AgentApiError(500, 'injected', `injected failure updating ${type}`);
          const attrs = { ...prior, ...inputs };
          this.objects.set(id, { type, attributes: attrs });
          return attrs;
        }),
      read: async (_ctx, id) => {
        this.calls.push({ op: 'read', type, id });
        return this.objects.get(id)?.attributes ?? null;
      },
      delete: (ctx, id) =>
        this.busy(ctx.signal, () => {
          this.calls.push({ op: 'delete', type, id });
          this.objects.delete(id);
        }),
    };
  }

  /** The providers of every registered type, bound to this world. */
  get providers(): ProviderSet {
    this.made ??= providersFor((schema) => this.io(schema.type as ResourceType));
    return this.made;
  }
}
