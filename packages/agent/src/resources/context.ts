import { join } from 'node:path';
import type { ApiRecord } from '@stratus/model';
import type { ComputeDriver } from '../compute/driver.js';
import type { VirtType } from '../compute/types.js';
import type { KeyedMutex } from '../host/mutex.js';
import type { AgentRecordFile, RecordStore } from '../store/records.js';

/** What the API needs from each resource type's service. */
export interface ResourceService {
  /** Creates the resource, or converges an existing one to `spec` (idempotent by id). */
  ensure(id: string, spec: Record<string, unknown>): Promise<ApiRecord>;
  /** The resource with its live status, or null. */
  get(id: string): Promise<ApiRecord | null>;
  list(): Promise<ApiRecord[]>;
  /** Removes the resource and every host object it owns; succeeds when already gone. */
  delete(id: string): Promise<void>;
  /** Adopts an object made outside Stratus (named as the host knows it) under a new record. */
  import?(externalId: string): Promise<ApiRecord>;
}

/** What every resource service shares. */
export interface AgentContext {
  stateDir: string;
  store: RecordStore;
  /** Per-resource and per-network serialization. */
  locks: KeyedMutex;
  compute: ComputeDriver;
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
  return { id: rec.id, type: rec.type, spec: rec.spec, status: rec.status };
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
