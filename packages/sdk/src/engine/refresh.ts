import { LOCAL_HOST } from '../client/pool.js';
import type { Diagnostic } from '../diagnostics/index.js';
import type { ProtocolLog, ProviderSet } from '../protocol/types.js';
import type { StateDoc, StateResource } from '../state/types.js';

/** What refresh learned: the state as the agents see it, what vanished, and what drifted. */
export interface RefreshResult {
  state: StateDoc;
  gone: Set<string>;
  /** Resources that exist but were changed outside Stratus, with what changed. */
  drift: Map<string, string>;
  /** Resources that could not be read (agent errors): the plan cannot be trusted with these. */
  diagnostics: Diagnostic[];
}

/** A refresh result that read nothing (`-refresh=false`, or no state yet). */
export function unrefreshed(state: StateDoc): RefreshResult {
  return { state, gone: new Set(), drift: new Map(), diagnostics: [] };
}

/** Options of {@link refresh}. */
export interface RefreshOptions {
  signal?: AbortSignal;
  log?: ProtocolLog;
  /**
   * Reads in flight at once (default: all of them). The agent providers gather the reads issued in one
   * turn of the event loop into one list call per collection and host, so a bound would only split that
   * call into several sent one after another (a stack of 10 servers was read in 4 calls, not 1).
   */
  parallelism?: number;
}

const quiet: ProtocolLog = { debug() {}, warn() {} };

/**
 * Reads every resource in `state` through its provider, in parallel. State written by an older schema
 * version is upgraded first. Resources the host no longer has are dropped (so the plan recreates them);
 * others get the host's current attributes, and the provider says whether what it read is drift to
 * repair. A read that fails is a diagnostic, and the resource keeps what state had.
 */
export async function refresh(
  state: StateDoc,
  providers: ProviderSet,
  opts: RefreshOptions = {},
): Promise<RefreshResult> {
  const gone = new Set<string>();
  const drift = new Map<string, string>();
  const diagnostics: Diagnostic[] = [];
  const signal = opts.signal ?? new AbortController().signal;
  const log = opts.log ?? quiet;
  const resources = await mapBounded(
    state.resources,
    opts.parallelism ?? Math.max(1, state.resources.length),
    async (r): Promise<StateResource | null> => {
      const p = providers[r.type];
      let attributes = r.attributes;
      const version = r.schemaVersion ?? 1;
      if (version !== p.schemaVersion) {
        const up = p.upgrade({ state: attributes, fromVersion: version });
        for (const d of up.diagnostics)
          diagnostics.push({ severity: d.severity, message: `${r.name}: ${d.summary}` });
        attributes = up.state;
      }
      const host = r.host ?? LOCAL_HOST;
      const res = await p.read({ signal, log, host }, { id: r.id, state: attributes, private: r.private });
      for (const d of res.diagnostics)
        diagnostics.push({ severity: d.severity, message: `reading ${r.type} ${r.name}: ${d.summary}` });
      if (res.diagnostics.some((d) => d.severity === 'error')) return { ...r, attributes, host };
      if (!res.newState) {
        if (r.status === 'ready') gone.add(r.name);
        // A create whose outcome is unknown stays: the agent may still be making it under this id, and
        // the plan creates it again under the same id (see makePlan), never under a new one.
        if (r.status === 'creating') return { ...r, attributes, host };
        return null;
      }
      if (res.drift && r.status === 'ready') drift.set(r.name, res.drift);
      // The host is the authority: what it reports replaces what state remembered.
      return {
        ...r,
        host,
        attributes: res.newState,
        schemaVersion: p.schemaVersion,
        ...(res.private !== undefined ? { private: res.private } : {}),
      };
    },
  );
  return {
    state: { ...state, resources: resources.filter((r): r is StateResource => r !== null) },
    gone,
    drift,
    diagnostics,
  };
}

/** Maps with at most `limit` calls in flight. */
export async function mapBounded<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
