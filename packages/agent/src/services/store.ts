import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ApiOwner } from '@stratus/model';
import { readIfExists, writeFileAtomic } from '@stratus/util';

/** A resource as the agent records it: the spec it was asked for, what it computed, and private data. */
export interface AgentRecordFile<
  S = Record<string, unknown>,
  O = Record<string, unknown>,
  P = Record<string, unknown>,
> {
  id: string;
  /** The resource type (`server`), or `port` for the agent's internal port records. */
  type: string;
  spec: S;
  status: O;
  /** Agent-private bookkeeping (IP allocations, paths); never returned by the API. */
  internal: P;
  createdAt: string;
  updatedAt: string;
  /** The state the resource was created or imported for, as its client said (none on older records). */
  owner?: ApiOwner;
}

/** A record of any shape. */
export type AnyRecord = AgentRecordFile<object, object, object>;

/**
 * The agent's records, one JSON file per resource under `<stateDir>/records/<collection>/<id>.json`,
 * written atomically so a crash never leaves a half-written record.
 */
export class RecordStore {
  constructor(private readonly root: string) {}

  private dir(collection: string): string {
    return join(this.root, collection);
  }

  async get<T extends AnyRecord>(collection: string, id: string): Promise<T | null> {
    const text = await readIfExists(join(this.dir(collection), `${id}.json`));
    return text === null ? null : (JSON.parse(text) as T);
  }

  async list<T extends AnyRecord>(collection: string): Promise<T[]> {
    let names: string[];
    try {
      names = await readdir(this.dir(collection));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: T[] = [];
    for (const n of names.filter((n) => n.endsWith('.json')).sort()) {
      const r = await this.get<T>(collection, n.slice(0, -5));
      if (r) out.push(r);
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  async put(collection: string, rec: AnyRecord): Promise<void> {
    await mkdir(this.dir(collection), { recursive: true, mode: 0o700 });
    await writeFileAtomic(join(this.dir(collection), `${rec.id}.json`), `${JSON.stringify(rec, null, 2)}\n`);
  }

  async delete(collection: string, id: string): Promise<void> {
    await rm(join(this.dir(collection), `${id}.json`), { force: true });
  }
}
