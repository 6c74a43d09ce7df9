/**
 * Which state holds each object an agent has: the agents record the owner a client named when it
 * created or imported the object (a stack and its state); this reads those states to tell the objects
 * a state holds from orphans, which no state holds (an import whose state write failed, `state rm`, a
 * deleted state file, objects made before owners were recorded).
 */
import type { ApiOwner, ApiRecord } from '@stratus/model';
import { LocalBackend } from '../../state/local.js';
import type { StateDoc } from '../../state/types.js';

/** How an object stands: held by a state; owned by one Stratus cannot read (never removed); or orphaned. */
export type Ownership =
  | { kind: 'owned'; stack: string; state: string; address: string }
  | { kind: 'unchecked'; owner: ApiOwner; why: string }
  | { kind: 'orphan'; why: string };

/** What was read of one state file. */
type Read = { doc: StateDoc | null } | { error: string };

/**
 * Reads the state files the records' owners name (once each) and classifies every record. An object
 * any of those states holds is `owned`, whatever its own owner says (records made before owners, moved
 * objects); one whose owner's state cannot be read here (PostgreSQL, Terraform's, a damaged file) is
 * `unchecked`; the rest are orphans, with the reason.
 */
export async function classify(records: readonly ApiRecord[]): Promise<Map<string, Ownership>> {
  const files = new Map<string, Read>();
  for (const r of records) {
    const o = r.owner;
    if (o?.tool !== 'stratus' || o.backend !== 'local' || !o.state || files.has(o.state)) continue;
    try {
      files.set(o.state, { doc: await new LocalBackend(o.state).read() });
    } catch (e) {
      files.set(o.state, { error: (e as Error).message.split('\n')[0]! });
    }
  }
  const holders = new Map<string, { stack: string; state: string; address: string }>();
  for (const [state, read] of files)
    if ('doc' in read && read.doc)
      for (const res of read.doc.resources)
        holders.set(res.id, { stack: read.doc.stack ?? '?', state, address: res.name });
  const out = new Map<string, Ownership>();
  for (const r of records) out.set(r.id, ownership(r, holders, files));
  return out;
}

function ownership(
  r: ApiRecord,
  holders: Map<string, { stack: string; state: string; address: string }>,
  files: Map<string, Read>,
): Ownership {
  const held = holders.get(r.id);
  if (held) return { kind: 'owned', ...held };
  const o = r.owner;
  if (!o) return { kind: 'orphan', why: 'no owner recorded and no known state holds it' };
  if (o.tool !== 'stratus') return { kind: 'unchecked', owner: o, why: `managed by ${o.tool}` };
  if (o.backend !== 'local' || !o.state)
    return { kind: 'unchecked', owner: o, why: `its state is in ${o.backend ?? 'an unknown backend'}` };
  const read = files.get(o.state);
  if (read && 'error' in read) return { kind: 'unchecked', owner: o, why: read.error };
  if (!read || !('doc' in read) || !read.doc)
    return { kind: 'orphan', why: `stack ${o.stack ?? '?'}: its state ${o.state} does not exist` };
  return { kind: 'orphan', why: `stack ${o.stack ?? '?'}: not in its state ${o.state}` };
}

/** One line for the Owner column. */
export function ownerLabel(o: Ownership): string {
  switch (o.kind) {
    case 'owned':
      return `${o.stack}: ${o.address}`;
    case 'unchecked':
      return `${o.owner.stack ?? o.owner.tool} (not checked: ${o.why})`;
    case 'orphan':
      return '(orphan)';
  }
}
