import { resolve } from 'node:path';
import { type ApiOwner, attributes, type ResourceSchema } from '@stratus/model';
import { AgentApiError } from '../../client/errors.js';
import { LOCAL_HOST } from '../../client/pool.js';
import type { StackConfig } from '../../engine/config.js';
import { type Value, walkRefs } from '../../engine/expr.js';
import type { Graph } from '../../engine/graph.js';
import { emptyState } from '../../engine/plan.js';
import type { ResourceProvider } from '../../protocol/types.js';
import type { StateBackend, StateDoc } from '../../state/types.js';
import { CliError, usageError } from '../args.js';
import { out, say } from '../io.js';
import { lockTimeoutOf, withLockTimeout } from '../lock.js';
import { log } from '../log.js';
import type { Ctx } from '../registry.js';
import { redact, renderState, styleFor } from '../render.js';
import { backendFor, loadChecked, localProviders, ownerOf } from '../session.js';

async function open(
  ctx: Ctx,
): Promise<{ config: StackConfig; graph: Graph; backend: StateBackend; owner: ApiOwner }> {
  const { config, graph } = await loadChecked(ctx.stack);
  const raw = backendFor(config, ctx.flags);
  const backend = withLockTimeout(raw, lockTimeoutOf(ctx.command, ctx.flags), say);
  log.debug('state backend', { where: backend.where });
  return { config, graph, backend, owner: ownerOf(config, raw) };
}

/**
 * Changes state under its lock: `fn` edits a copy; it is written with the next serial. `init` makes the
 * document when there is no state yet (otherwise that is an error).
 */
async function mutate(
  ctx: Ctx,
  backend: StateBackend,
  op: string,
  fn: (doc: StateDoc) => void | Promise<void>,
  init?: () => StateDoc,
): Promise<void> {
  const unlock = ctx.flags.lock === false ? async () => {} : await backend.lock(op);
  try {
    const doc = (await backend.read()) ?? init?.();
    if (!doc) throw new CliError(`there is no state at ${backend.where}`);
    await fn(doc);
    doc.serial++;
    await backend.write(doc);
  } finally {
    await unlock();
  }
}

function need(doc: StateDoc, name: string) {
  const r = doc.resources.find((x) => x.name === name);
  if (!r) throw new CliError(`no resource named ${name} in state; see: stratus state list`);
  return r;
}

/** `stratus state list [STACK]`: the resources in state, one per line: name, type, id (and status). */
export async function cmdStateList(ctx: Ctx): Promise<number> {
  const { backend } = await open(ctx);
  const doc = await backend.read();
  const only = new Set(ctx.args);
  for (const r of doc?.resources ?? [])
    if (only.size === 0 || only.has(r.name))
      out.write(`${r.name}\t${r.type}\t${r.id}${r.status === 'ready' ? '' : `\t(${r.status})`}\n`);
  return 0;
}

/** `stratus state show [STACK] ADDRESS`: one resource in state, sensitive values redacted. */
export async function cmdStateShow(ctx: Ctx): Promise<number> {
  if (ctx.args.length !== 1) throw usageError(ctx.command, 'state show takes one ADDRESS');
  const { backend } = await open(ctx);
  const doc = await backend.read();
  const r = need(doc ?? ({ resources: [] } as unknown as StateDoc), ctx.args[0]!);
  if (ctx.flags.json)
    out.write(
      `${JSON.stringify({ ...r, attributes: redact(r.type, r.attributes, r.sensitive) }, null, 2)}\n`,
    );
  else out.write(renderState({ ...doc!, resources: [r], outputs: {} }, styleFor(out)));
  return 0;
}

/** `stratus state rm [STACK] ADDRESS...`: forgets resources; the objects themselves stay. */
export async function cmdStateRm(ctx: Ctx): Promise<number> {
  const names = ctx.args;
  if (names.length === 0) throw usageError(ctx.command, 'state rm takes one or more ADDRESSes');
  const { backend } = await open(ctx);
  await mutate(ctx, backend, 'state rm', (doc) => {
    for (const n of names) need(doc, n);
    doc.resources = doc.resources.filter((r) => !names.includes(r.name));
  });
  say(`Removed ${names.join(', ')} from state; the objects themselves were not touched.`);
  return 0;
}

/** `stratus state mv [STACK] SOURCE DESTINATION`: renames a resource in state. */
export async function cmdStateMv(ctx: Ctx): Promise<number> {
  if (ctx.args.length !== 2) throw usageError(ctx.command, 'state mv takes SOURCE and DESTINATION');
  const [from, to] = ctx.args as [string, string];
  const { backend } = await open(ctx);
  await mutate(ctx, backend, 'state mv', (doc) => {
    const r = need(doc, from);
    if (doc.resources.some((x) => x.name === to)) throw new CliError(`${to} already exists in state`);
    r.name = to;
    for (const x of doc.resources) x.dependencies = x.dependencies.map((d) => (d === from ? to : d));
  });
  say(`Moved ${from} to ${to}.`);
  return 0;
}

/**
 * The stack's values for attributes an imported object does not have: a display name (an image file has
 * none; the stack's, or the resource name it defaults to), defaults. Only literal values (no references:
 * those are resolved by plan) of attributes that change in place, where the import found nothing.
 * Setting them as part of the import is what makes the next plan empty when the stack matches the
 * object (issue 7, finding 7).
 */
export function importFill(
  schema: ResourceSchema,
  properties: Record<string, Value>,
  imported: Record<string, unknown>,
): Record<string, unknown> {
  const withRefs = new Set<string>();
  walkRefs(properties as Value, (_ref, path) => withRefs.add(String(path[0])));
  const fill: Record<string, unknown> = {};
  for (const a of attributes(schema)) {
    if (!a.input || a.requiresReplace || withRefs.has(a.name)) continue;
    if (imported[a.name] !== undefined && imported[a.name] !== null) continue;
    const v = Object.hasOwn(properties, a.name) ? properties[a.name] : a.default;
    if (v !== undefined && v !== null) fill[a.name] = v;
  }
  return fill;
}

/**
 * Completes an import with the stack's values the object lacked ({@link importFill}) through an in-place
 * update, and answers the state to record. When that update fails, the object is recorded as imported
 * (it exists now) and the next plan shows the difference.
 */
async function completeImport(
  provider: ResourceProvider,
  rc: { properties: Record<string, Value> },
  id: string,
  imported: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const fill = importFill(provider.schema, rc.properties, imported);
  if (Object.keys(fill).length === 0) return imported;
  const inputs = Object.fromEntries(
    attributes(provider.schema)
      .filter((a) => a.input && imported[a.name] !== undefined)
      .map((a) => [a.name, imported[a.name]]),
  );
  const planned = provider.plan({ prior: imported, proposed: { ...inputs, ...fill } });
  if (planned.changes.length === 0 || planned.requiresReplace.length || !planned.planned) return imported;
  const ctx = { signal: new AbortController().signal, log: log.protocol(), host: LOCAL_HOST };
  const res = await provider.apply(ctx, { id, prior: imported, planned: planned.planned });
  const failed = res.diagnostics.find((d) => d.severity === 'error');
  if (failed || !res.newState) {
    say(
      `warning: could not set ${Object.keys(fill).join(', ')} on the imported object (${failed?.summary ?? 'no state'}); stratus plan will show the difference`,
    );
    return imported;
  }
  return res.newState;
}

/** `stratus import ADDRESS ID`: adopts an object the agent can see as the stack's resource ADDRESS. */
export async function cmdImport(ctx: Ctx): Promise<number> {
  if (ctx.args.length !== 2) throw usageError(ctx.command, 'import takes ADDRESS and ID');
  const [name, given] = ctx.args as [string, string];
  const { config, graph, backend, owner } = await open(ctx);
  const rc = config.resources.get(name);
  if (!rc) throw new CliError(`${name} is not declared in ${config.file}; declare it before importing`);
  const { providers, pool } = localProviders(say);
  pool.owner = owner;
  const provider = providers[rc.type];
  // A file named on the command line is the user's, relative to where they are (as in Terraform), and is
  // sent absolute: never resolved by an agent against its own working directory.
  const externalId = attributes(provider.schema).some((a) => a.localPath) ? resolve(given) : given;
  try {
    // Refused before anything reaches a host: an import of what state already has copies nothing.
    await mutate(
      ctx,
      backend,
      'import',
      async (doc) => {
        if (doc.resources.some((r) => r.name === name)) throw new CliError(`${name} is already in state`);
        const res = await provider.import(
          { signal: new AbortController().signal, log: log.protocol(), host: LOCAL_HOST },
          { externalId },
        );
        const failed = res.diagnostics.find((d) => d.severity === 'error');
        if (failed || !res.id || !res.state)
          throw new AgentApiError(0, failed?.code ?? 'import_failed', failed?.summary ?? 'import failed');
        const attrs = await completeImport(provider, rc, res.id, res.state);
        doc.resources.push({
          name,
          type: rc.type,
          id: res.id,
          host: LOCAL_HOST,
          attributes: attrs,
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
export async function cmdForceUnlock(ctx: Ctx): Promise<number> {
  if (ctx.args.length !== 1) throw usageError(ctx.command, 'force-unlock takes one LOCK_ID');
  const { backend } = await open(ctx);
  await backend.forceUnlock(ctx.args[0]!);
  say(`Lock ${ctx.args[0]} removed from ${backend.where}.`);
  return 0;
}
