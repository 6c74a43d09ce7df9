import { AgentApiError } from '../../client/errors.js';
import { LOCAL_HOST } from '../../client/pool.js';
import type { StackConfig } from '../../engine/config.js';
import type { Graph } from '../../engine/graph.js';
import { emptyState } from '../../engine/plan.js';
import type { StateBackend, StateDoc } from '../../state/types.js';
import { parseCommandArgs, UsageError } from '../args.js';
import { out, say } from '../io.js';
import { redact, renderState, styleFor } from '../render.js';
import { backendFor, loadChecked, localProviders, STATE_FLAGS } from '../session.js';

const COMMON = { ...STATE_FLAGS, stack: { type: 'string' }, json: { type: 'boolean' } } as const;

async function open(
  v: Record<string, unknown>,
): Promise<{ config: StackConfig; graph: Graph; backend: StateBackend }> {
  const { config, graph } = await loadChecked(v.stack as string | undefined);
  return { config, graph, backend: backendFor(config, v) };
}

/**
 * Changes state under its lock: `fn` edits a copy; it is written with the next serial. `init` makes the
 * document when there is no state yet (otherwise that is an error).
 */
async function mutate(
  backend: StateBackend,
  op: string,
  fn: (doc: StateDoc) => void | Promise<void>,
  init?: () => StateDoc,
): Promise<void> {
  const unlock = await backend.lock(op);
  try {
    const doc = (await backend.read()) ?? init?.();
    if (!doc) throw new UsageError(`there is no state at ${backend.where}`);
    await fn(doc);
    doc.serial++;
    await backend.write(doc);
  } finally {
    await unlock();
  }
}

function need(doc: StateDoc, name: string) {
  const r = doc.resources.find((x) => x.name === name);
  if (!r) throw new UsageError(`no resource named ${name} in state; see: stratus state list`);
  return r;
}

/** `stratus state list|show|rm|mv`. */
export async function cmdState(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values: v, positionals } = parseCommandArgs(rest, COMMON);
  const { backend } = await open(v);
  switch (sub) {
    case 'list': {
      const doc = await backend.read();
      for (const r of doc?.resources ?? [])
        out.write(`${r.name}\t${r.type}\t${r.id}${r.status === 'ready' ? '' : `\t(${r.status})`}\n`);
      return 0;
    }
    case 'show': {
      if (positionals.length !== 1) throw new UsageError('usage: stratus state show ADDRESS');
      const doc = await backend.read();
      const r = need(doc ?? ({ resources: [] } as unknown as StateDoc), positionals[0]!);
      if (v.json)
        out.write(
          `${JSON.stringify({ ...r, attributes: redact(r.type, r.attributes, r.sensitive) }, null, 2)}\n`,
        );
      else out.write(renderState({ ...doc!, resources: [r], outputs: {} }, styleFor(out)));
      return 0;
    }
    case 'rm': {
      if (positionals.length === 0) throw new UsageError('usage: stratus state rm ADDRESS...');
      await mutate(backend, 'state rm', (doc) => {
        for (const n of positionals) need(doc, n);
        doc.resources = doc.resources.filter((r) => !positionals.includes(r.name));
      });
      say(`Removed ${positionals.join(', ')} from state; the objects themselves were not touched.`);
      return 0;
    }
    case 'mv': {
      if (positionals.length !== 2) throw new UsageError('usage: stratus state mv SOURCE DESTINATION');
      const [from, to] = positionals as [string, string];
      await mutate(backend, 'state mv', (doc) => {
        const r = need(doc, from);
        if (doc.resources.some((x) => x.name === to)) throw new UsageError(`${to} already exists in state`);
        r.name = to;
        for (const x of doc.resources) x.dependencies = x.dependencies.map((d) => (d === from ? to : d));
      });
      say(`Moved ${from} to ${to}.`);
      return 0;
    }
    default:
      throw new UsageError(
        `unknown state subcommand ${JSON.stringify(sub ?? '')}; expected list, show, rm or mv`,
      );
  }
}

/** `stratus import ADDRESS ID`: adopts an object the agent can see as the stack's resource ADDRESS. */
export async function cmdImport(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseCommandArgs(argv, COMMON);
  if (positionals.length !== 2) throw new UsageError('usage: stratus import ADDRESS ID');
  const [name, externalId] = positionals as [string, string];
  const { config, graph, backend } = await open(v);
  const rc = config.resources.get(name);
  if (!rc) throw new UsageError(`${name} is not declared in ${config.file}; declare it before importing`);
  const { providers, pool } = localProviders(say);
  const provider = providers[rc.type];
  try {
    // Refused before anything reaches a host: an import of what state already has copies nothing.
    await mutate(
      backend,
      'import',
      async (doc) => {
        if (doc.resources.some((r) => r.name === name)) throw new UsageError(`${name} is already in state`);
        const res = await provider.import(
          { signal: new AbortController().signal, log: { debug() {}, warn() {} }, host: LOCAL_HOST },
          { externalId },
        );
        const failed = res.diagnostics.find((d) => d.severity === 'error');
        if (failed || !res.id || !res.state)
          throw new AgentApiError(0, failed?.code ?? 'import_failed', failed?.summary ?? 'import failed');
        // Input attributes the stack leaves to their defaults are recorded as the stack has them, so
        // the plan after an import whose config matches is empty.
        doc.resources.push({
          name,
          type: rc.type,
          id: res.id,
          host: LOCAL_HOST,
          attributes: res.state,
          // Its dependencies per the stack, so destroy orders it before what it uses.
          dependencies: graph.dependencies(name).sort(),
          status: 'ready',
        });
        say(
          `Imported ${rc.type} ${externalId} as ${name} (id ${res.id}). Run stratus plan to compare it with the stack.`,
        );
      },
      () => emptyState(config.name),
    );
    return 0;
  } finally {
    await pool.close();
  }
}

/** `stratus force-unlock LOCK_ID`: removes a lock a crashed run left behind. */
export async function cmdForceUnlock(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseCommandArgs(argv, COMMON);
  if (positionals.length !== 1) throw new UsageError('usage: stratus force-unlock LOCK_ID');
  const { backend } = await open(v);
  await backend.forceUnlock(positionals[0]!);
  say(`Lock ${positionals[0]} removed from ${backend.where}.`);
  return 0;
}
