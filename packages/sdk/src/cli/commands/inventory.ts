import { type ApiList, type ApiRecord, type ResourceType, resourceTypes, schemas } from '@stratus/model';
import { localAgentPaths } from '@stratus/util';
import { AgentApiError } from '../../client/errors.js';
import { type AgentPool, LOCAL_HOST, localPool } from '../../client/pool.js';
import { LocalBackend } from '../../state/local.js';
import { StateError } from '../../state/types.js';
import { ensureLocalAgent } from '../agent-launch.js';
import { closest, usageError } from '../args.js';
import { columnsOf } from '../inventory/columns.js';
import { classify, type Ownership, ownerLabel } from '../inventory/owners.js';
import { renderTable } from '../inventory/table.js';
import { confirm, out, say } from '../io.js';
import type { Ctx } from '../registry.js';
import { redact } from '../render.js';

/** Names a type goes by on the command line: `server`, `servers`. */
function typeOf(command: string, word: string): ResourceType {
  for (const t of resourceTypes) if (word === t || word === schemas[t].collection) return t;
  // Plurals first: at equal distance they win, as list's output and help name them.
  const near = closest(
    word,
    resourceTypes.flatMap((t) => [schemas[t].collection, t]),
  );
  throw usageError(
    command,
    `unknown type ${JSON.stringify(word)}${near ? `; did you mean ${near}?` : ''} (types: ${resourceTypes.map((t) => schemas[t].collection).join(', ')})`,
  );
}

/** The local agent's pool; the agent is started when none runs, as for every other command. */
function pool(): AgentPool {
  return localPool(() => ensureLocalAgent(localAgentPaths(), say));
}

/** Every record of `types` on the local host's agent: one call per collection. */
async function fetch(p: AgentPool, types: readonly ResourceType[]): Promise<ApiRecord[]> {
  const client = await p.client(LOCAL_HOST);
  const lists = await Promise.all(types.map((t) => client.get<ApiList>(`/v1/${schemas[t].collection}`)));
  return lists.flatMap((l) => l.items);
}

/** One record for -json: its attributes with sensitive values redacted, and who holds it. */
function jsonOf(r: ApiRecord, o: Ownership) {
  const type = r.type as ResourceType;
  return {
    type,
    id: r.id,
    host: r.host ?? LOCAL_HOST,
    name: r.spec.name ?? null,
    orphan: o.kind === 'orphan',
    ownership: o,
    attributes: redact(type, { ...r.spec, ...r.status }),
  };
}

/** `stratus list [TYPE] [-orphans] [-json]`: what the agents hold, with the state that holds each. */
export async function cmdList(ctx: Ctx): Promise<number> {
  if (ctx.args.length > 1) throw usageError(ctx.command, 'list takes at most one TYPE');
  const types = ctx.args[0] ? [typeOf(ctx.command, ctx.args[0])] : resourceTypes;
  const p = pool();
  try {
    const all = await fetch(p, types);
    const owners = await classify(all);
    const shown = ctx.flags.orphans ? all.filter((r) => owners.get(r.id)!.kind === 'orphan') : all;
    if (ctx.flags.json) {
      out.write(
        `${JSON.stringify(
          shown.map((r) => jsonOf(r, owners.get(r.id)!)),
          null,
          2,
        )}\n`,
      );
      return 0;
    }
    for (const t of types) {
      const rows = shown.filter((r) => r.type === t);
      if (types.length > 1) {
        if (rows.length === 0) continue;
        out.write(`${schemas[t].collection}:\n`);
      }
      const cols = columnsOf(t);
      out.write(
        renderTable(
          [...cols.map((c) => c.header), 'Owner'],
          rows.map((r) => [...cols.map((c) => c.cell(r)), ownerLabel(owners.get(r.id)!)]),
        ),
      );
    }
    if (types.length > 1 && shown.length === 0)
      out.write(ctx.flags.orphans ? 'No orphans: every object is held by a state.\n' : 'No objects.\n');
    const orphans = shown.filter((r) => owners.get(r.id)!.kind === 'orphan').length;
    if (orphans)
      say(
        `${orphans} orphan${orphans === 1 ? '' : 's'} (held by no state). Remove with: stratus delete -orphans${ctx.args[0] ? ` ${ctx.args[0]}` : ''}`,
      );
    return 0;
  } finally {
    await p.close();
  }
}

/** Deletion order: what uses others first (servers use images, flavors, key pairs, subnets). */
const ORDER: ResourceType[] = [
  ...resourceTypes.filter((t) => t === 'server'),
  ...[...resourceTypes].reverse().filter((t) => t !== 'server'),
];

/**
 * `stratus delete TYPE ID...` / `stratus delete -orphans [TYPE]`: removes objects no state holds. An
 * object a state holds is refused (remove it from its stack and apply, or `state rm` it first); one
 * whose state Stratus cannot read is never removed. Asks for confirmation unless -auto-approve. Each
 * removal holds its owner's state lock and checks that state again, so an apply or import in flight
 * is never undercut.
 */
export async function cmdDelete(ctx: Ctx): Promise<number> {
  const orphansFlag = ctx.flags.orphans === true;
  if (orphansFlag && ctx.args.length > 1)
    throw usageError(ctx.command, 'delete -orphans takes at most a TYPE, not IDs');
  if (!orphansFlag && ctx.args.length < 2)
    throw usageError(ctx.command, 'delete takes TYPE and one or more IDs, or -orphans [TYPE]');
  const types = ctx.args[0] ? [typeOf(ctx.command, ctx.args[0])] : resourceTypes;
  const ids = ctx.args.slice(1);
  const p = pool();
  try {
    const all = await fetch(p, types);
    const owners = await classify(all);
    let victims: ApiRecord[];
    if (orphansFlag) victims = all.filter((r) => owners.get(r.id)!.kind === 'orphan');
    else {
      victims = [];
      const problems: string[] = [];
      for (const id of ids) {
        const r = all.find((x) => x.id === id);
        const o = r && owners.get(r.id)!;
        if (!r || !o) problems.push(`${types[0]} ${id} does not exist (see: stratus list ${types[0]})`);
        else if (o.kind === 'owned')
          problems.push(
            `${types[0]} ${id} is held by stack ${o.stack} as ${o.address} (${o.state}): remove it from that stack and apply, or run stratus state rm there first`,
          );
        else if (o.kind === 'unchecked')
          problems.push(`${types[0]} ${id} belongs to ${ownerLabel(o)}: Stratus does not remove it`);
        else victims.push(r);
      }
      // Refused before anything is removed.
      if (problems.length) {
        for (const m of problems) say(`error: ${m}`);
        say('Nothing was deleted.');
        return 1;
      }
    }
    if (victims.length === 0) {
      out.write('No orphans to delete: every object is held by a state.\n');
      return 0;
    }
    victims.sort((a, b) => ORDER.indexOf(a.type as ResourceType) - ORDER.indexOf(b.type as ResourceType));
    out.write('Stratus will delete these objects, which no state holds:\n\n');
    for (const r of victims) {
      const o = owners.get(r.id) as Extract<Ownership, { kind: 'orphan' }>;
      out.write(`  - ${r.type} ${r.id}${r.spec.name ? ` (${String(r.spec.name)})` : ''}: ${o.why}\n`);
    }
    if (!(await confirm('\nDo you want to delete them?', ctx.flags['auto-approve'] === true))) {
      say('Cancelled; nothing was deleted.');
      return 1;
    }
    const client = await p.client(LOCAL_HOST);
    let failed = 0;
    for (const r of victims) {
      try {
        await deleteUnderLock(r, async () => {
          await client.delete(`/v1/${schemas[r.type as ResourceType].collection}/${r.id}`);
        });
        out.write(`Deleted ${r.type} ${r.id}.\n`);
      } catch (e) {
        failed++;
        say(`error: ${r.type} ${r.id} not deleted: ${(e as Error).message}`);
      }
    }
    out.write(`\n${victims.length - failed} deleted, ${failed} failed.\n`);
    return failed ? 1 : 0;
  } finally {
    await p.close();
  }
}

/**
 * Runs `del` holding the lock of `r`'s owner's state (a local file that exists), after checking again
 * under it that the state does not hold `r`. Throws when the state is locked by a run or now holds it.
 */
async function deleteUnderLock(r: ApiRecord, del: () => Promise<void>): Promise<void> {
  const o = r.owner;
  const backend =
    o?.tool === 'stratus' && o.backend === 'local' && o.state ? new LocalBackend(o.state) : null;
  let unlock = async () => {};
  if (backend && (await backend.read()) !== null) {
    try {
      unlock = await backend.lock('delete orphan');
    } catch (e) {
      if (StateError.isInstance(e) && e.code === 'locked')
        throw new Error(`its state ${o!.state} is locked by a run; retry when it is done`);
      throw e;
    }
  }
  try {
    const again = await classify([r]);
    if (again.get(r.id)?.kind !== 'orphan')
      throw new Error(`a state holds it now (${ownerLabel(again.get(r.id)!)})`);
    await del();
  } catch (e) {
    if (AgentApiError.isInstance(e) && e.status === 404) return;
    throw e;
  } finally {
    await unlock();
  }
}
