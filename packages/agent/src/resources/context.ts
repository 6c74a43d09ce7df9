import { join } from 'node:path';
import type { ApiRecord } from '../api/server.js';
import type { LibvirtCompute } from '../compute/libvirt.js';
import type { VirtType } from '../compute/types.js';
import type { KeyedMutex } from '../host/mutex.js';
import type { AgentRecordFile, RecordStore } from '../store/records.js';

/** What every resource service shares. */
export interface AgentContext {
  stateDir: string;
  store: RecordStore;
  /** Per-resource and per-network serialization. */
  locks: KeyedMutex;
  compute: LibvirtCompute;
  virtType: VirtType;
}

/** Paths under the state directory. Directories libvirt's qemu user must traverse are 0711. */
export const paths = {
  images: (ctx: AgentContext) => join(ctx.stateDir, 'images'),
  image: (ctx: AgentContext, id: string) => join(ctx.stateDir, 'images', id),
  instances: (ctx: AgentContext) => join(ctx.stateDir, 'instances'),
  instance: (ctx: AgentContext, id: string) => join(ctx.stateDir, 'instances', id),
};

/** Returns a copy of a record without its private part, as the API shows it. */
export function publicRecord(rec: AgentRecordFile): ApiRecord {
  return { id: rec.id, type: rec.type as ApiRecord['type'], spec: rec.spec, status: rec.status };
}

/** A new record stamped now. */
export function newRecord<S, O, P>(
  id: string,
  type: string,
  spec: S,
  status: O,
  internal: P,
): AgentRecordFile<S, O, P> {
  const now = new Date().toISOString();
  return { id, type, spec, status, internal, createdAt: now, updatedAt: now };
}
