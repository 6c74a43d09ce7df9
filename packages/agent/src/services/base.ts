/**
 * The one service base: every resource type's service is a {@link ServiceBase} that owns the per-resource
 * lock, the record, the diff against the recorded spec (through the model's `diffInputs`, refusing a
 * change to a `requiresReplace` attribute), get and list. A type's service adds only what is particular to
 * it: how to realize a spec on the host, how to remove it, its live status, and (optionally) import.
 */
import {
  type ApiProgress,
  type ApiRecord,
  attributes,
  diffInputs,
  type ResourceType,
  schemas,
} from '@stratus/model';
import { InvalidReference, RequiresReplace } from '../errors.js';
import { isResourceId } from '../host/names.js';
import type { UploadOptions } from '../storage/driver.js';
import type { AgentContext } from './context.js';
import { requestOwner } from './owner.js';
import type { AgentRecordFile, AnyRecord } from './store.js';

/** Options of one {@link ResourceService.ensure} call. */
export interface EnsureOptions {
  /**
   * Content checksum (`@stratus/util` sparse.ts) of data the client uploaded for the resource's
   * local-file attribute (`PUT .../{id}/file`) that a new resource is made from, instead of the host file
   * the attribute names.
   */
  uploaded?: string;
  /** Aborts when the request's connection closes. */
  signal?: AbortSignal;
}

/** What the API needs from each resource type's service. */
export interface ResourceService {
  readonly type: ResourceType;
  /**
   * Creates the resource, or converges an existing one to `spec` (idempotent by id). `opts.signal` aborts
   * when the caller has gone (its connection closed): work that only waits (a server's `wait`) stops then.
   */
  ensure(id: string, spec: Record<string, unknown>, opts?: EnsureOptions): Promise<ApiRecord>;
  /**
   * Stores the data of the resource's local-file attribute, sent by a client that can read the file
   * (types with a `localPath` attribute only): the file's bytes, or with `opts.extents` its data extents in
   * the extents wire form; `opts.sha256` also computes the file's plain SHA-256 (for a declared checksum).
   * Answers its size, content checksum and upload check (`contentCrc32`, which the client compares with
   * its own).
   */
  upload?(
    id: string,
    body: AsyncIterable<Uint8Array>,
    opts?: UploadOptions,
  ): Promise<{ sizeBytes: number; checksum: string; contentCrc32?: string }>;
  /**
   * How far the create of resource `id` in flight has come (an image downloading from its URL), or
   * null when none is in flight. Types whose creates report no progress leave it out.
   */
  progress?(id: string): ApiProgress | null;
  /** The resource with its live status, or null. */
  get(id: string): Promise<ApiRecord | null>;
  /**
   * Every resource of the type with its live status, or those of `ids` that exist (in that order): one
   * call answers a client's refresh of a whole collection.
   */
  list(ids?: readonly string[]): Promise<ApiRecord[]>;
  /** Removes the resource and every host object it owns; succeeds when already gone. */
  delete(id: string): Promise<void>;
  /** Adopts an object made outside Stratus (named as the host knows it) under a new record. */
  import?(externalId: string): Promise<ApiRecord>;
}

/** Options of {@link ResourceService.ensure}. */
/**
 * Compares a requested spec with the recorded one through the model's one diff (the same the engine's
 * plan uses). Throws {@link RequiresReplace} (naming the attribute) for a change to an attribute the schema
 * marks requiresReplace; returns the names of attributes that change in place. `status` is the record's
 * status, whose values stand for optional+computed inputs the recorded spec leaves out.
 */
export function specChanges(
  type: ResourceType,
  recorded: Record<string, unknown>,
  requested: Record<string, unknown>,
  status: Record<string, unknown> = {},
): string[] {
  // An optional+computed input the create left to the agent is recorded in the status (what the client
  // then holds in its state and sends back): that value is the recorded one, not a change to it.
  const prior = { ...recorded };
  for (const a of attributes(schemas[type]))
    if (a.input && a.computed && prior[a.name] === undefined && status[a.name] !== undefined)
      prior[a.name] = status[a.name];
  const diff = diffInputs(schemas[type], prior, requested);
  const forced = diff.changes.find((c) => c.requiresReplace);
  if (forced)
    throw new RequiresReplace(
      `${type} attribute ${forced.name} cannot change in place; replace the ${type}`,
      { field: [forced.name] },
    );
  return diff.changes.map((c) => c.name);
}

/** Throws {@link InvalidReference} at `field` unless `ref` is a resource id with a record in `collection`. */
export async function assertReference(
  ctx: AgentContext,
  collection: string,
  ref: string,
  field: readonly (string | number)[],
): Promise<AnyRecord> {
  const what = collection.replace(/s$/, '');
  // Checked before the store is asked: an id is a file name there.
  const rec = isResourceId(ref) ? await ctx.store.get(collection, ref) : null;
  if (!rec) throw new InvalidReference(`${what} ${ref} does not exist`, { field });
  return rec;
}

/**
 * The base of every resource type's service. `S`, `O`, `P`: the record's spec, status and private part.
 * Subclasses implement {@link realize} and {@link remove}, and override {@link lockKey}, {@link check},
 * {@link live} and `import` where their type needs it.
 */
export abstract class ServiceBase<
  S extends object,
  O extends object,
  P extends object = Record<string, never>,
> implements ResourceService
{
  /** Where the type's records are kept: its API path segment (`servers`) unless the constructor says otherwise. */
  readonly collection: string;

  /**
   * @param recordCollection where the records are kept, when not under the API collection's name (the
   *   public `port` type keeps its records beside the agent's internal port records, not among them).
   */
  constructor(
    protected readonly ctx: AgentContext,
    readonly type: ResourceType,
    recordCollection?: string,
  ) {
    this.collection = recordCollection ?? schemas[type].collection;
  }

  /**
   * The lock that serializes work on resource `id` (given its spec when known). Default: the id itself;
   * networks and subnets share their network's lock, which also guards its DHCP service and addresses.
   */
  protected lockKey(id: string, _spec?: S): string {
    return id;
  }

  /** Checks a request needs before it takes the lock (references to other resources). */
  protected async check(_id: string, _spec: S): Promise<void> {}

  /**
   * Makes the host match `spec` for a new resource (`prior` null) or an existing one (`changes` names the
   * attributes that change in place), saves the record and returns it. Runs under {@link lockKey}.
   */
  protected abstract realize(
    id: string,
    spec: S,
    prior: AgentRecordFile<S, O, P> | null,
    changes: string[],
    opts: EnsureOptions,
  ): Promise<AgentRecordFile<S, O, P>>;

  /** Removes every host object of the resource (`rec` null when there is no record); the base then drops the record. */
  protected abstract remove(id: string, rec: AgentRecordFile<S, O, P> | null): Promise<void>;

  /** The status as the API shows it: the recorded one, with live facts where the type has them. */
  protected async live(rec: AgentRecordFile<S, O, P>): Promise<O> {
    return rec.status;
  }

  /**
   * The status of a record an ensure has just converged, for its answer: {@link live} by default. A type
   * whose live status also inspects the host for drift (changes made outside Stratus) may leave that out
   * here: the request has just made the host objects as the spec says, so there is none to find.
   */
  protected converged(rec: AgentRecordFile<S, O, P>): Promise<O> {
    return this.live(rec);
  }

  async ensure(id: string, body: Record<string, unknown>, opts: EnsureOptions = {}): Promise<ApiRecord> {
    const spec = body as S;
    await this.check(id, spec);
    return this.locked(this.lockKey(id, spec), async () => {
      const prior = await this.record(id);
      const changes = prior
        ? specChanges(
            this.type,
            prior.spec as Record<string, unknown>,
            spec as Record<string, unknown>,
            prior.status as Record<string, unknown>,
          )
        : [];
      const rec = await this.realize(id, spec, prior, changes, opts);
      // A record made before owners were recorded takes the owner of the first request that converges it.
      const owner = requestOwner();
      if (!rec.owner && owner) {
        rec.owner = owner;
        await this.save(rec);
      }
      return this.view(rec, await this.converged(rec));
    });
  }

  async get(id: string): Promise<ApiRecord | null> {
    const rec = await this.record(id);
    return rec ? this.view(rec) : null;
  }

  async list(ids?: readonly string[]): Promise<ApiRecord[]> {
    const recs =
      ids === undefined
        ? await this.records()
        : (await Promise.all(ids.map((id) => this.record(id)))).filter(
            (r): r is AgentRecordFile<S, O, P> => r !== null,
          );
    const statuses = await this.liveMany(recs);
    return Promise.all(recs.map((r, i) => this.view(r, statuses[i])));
  }

  /**
   * The live status of several records at once ({@link live} of each by default); a type overrides it
   * to share what its records' statuses have in common (one read of the port records, say).
   */
  protected liveMany(recs: readonly AgentRecordFile<S, O, P>[]): Promise<O[]> {
    return Promise.all(recs.map((r) => this.live(r)));
  }

  async delete(id: string): Promise<void> {
    const known = await this.record(id);
    await this.locked(this.lockKey(id, known?.spec), async () => {
      const rec = await this.record(id);
      await this.remove(id, rec);
      await this.ctx.store.delete(this.collection, id);
    });
  }

  /** Runs `fn` holding lock `key`. */
  protected locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.ctx.locks.run(key, fn);
  }

  /** The record of `id`, or null. */
  protected record(id: string): Promise<AgentRecordFile<S, O, P> | null> {
    return this.ctx.store.get<AgentRecordFile<S, O, P>>(this.collection, id);
  }

  /** Every record of this type, oldest first. */
  protected records(): Promise<AgentRecordFile<S, O, P>[]> {
    return this.ctx.store.list<AgentRecordFile<S, O, P>>(this.collection);
  }

  /** Writes `rec` (stamping `updatedAt`). */
  protected async save(rec: AgentRecordFile<S, O, P>): Promise<void> {
    rec.updatedAt = new Date().toISOString();
    await this.ctx.store.put(this.collection, rec);
  }

  /** A new, unsaved record of this type stamped now. */
  protected newRecord(id: string, spec: S, status: O, internal: P): AgentRecordFile<S, O, P> {
    const now = new Date().toISOString();
    const owner = requestOwner();
    return {
      id,
      type: this.type,
      spec,
      status,
      internal,
      createdAt: now,
      updatedAt: now,
      ...(owner ? { owner } : {}),
    };
  }

  /**
   * The record as the API shows it: without its private part, with live status (`status`, when the
   * caller has it already) and this host's name.
   */
  protected async view(rec: AgentRecordFile<S, O, P>, status?: O): Promise<ApiRecord> {
    return {
      id: rec.id,
      type: rec.type,
      spec: rec.spec as Record<string, unknown>,
      status: (status ?? (await this.live(rec))) as Record<string, unknown>,
      host: this.ctx.host,
      ...(rec.owner ? { owner: rec.owner } : {}),
    };
  }
}
