import { randomUUID } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import type pg from 'pg';
import { importModule } from '../util/import-module.js';
import { checkStateDoc } from './check.js';
import { holderIsDead, lockedMessage, processToken, staleClearedMessage } from './lock-holder.js';
import { type LockHooks, type LockInfo, type StateBackend, type StateDoc, StateError } from './types.js';

/**
 * Replaces the password in a connection URL (and any `password=`/`sslpassword=` parameter) with `***`:
 * `postgres://user:secret@host/db` → `postgres://user:***@host/db`. Over-redacts rather than leaks when
 * the URL is malformed (e.g. an unencoded `@` in the password).
 */
export function redactUrl(url: string): string {
  let out = url;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(out);
  if (scheme) {
    const rest = out.slice(scheme[0].length);
    // The last `@` ends the userinfo even when a careless password holds an unencoded `@`.
    const at = rest.lastIndexOf('@');
    const colon = rest.indexOf(':');
    if (at >= 0 && colon >= 0 && colon < at) out = `${scheme[0]}${rest.slice(0, colon)}:***${rest.slice(at)}`;
  }
  return out.replace(/(password=)[^&\s#]*/gi, '$1***');
}

/** The password in `url`, raw and decoded, so error messages can be scrubbed of it. */
function secretsOf(url: string): string[] {
  const found: string[] = [];
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^:@]*:(.*)@/i.exec(url);
  if (m?.[1]) found.push(m[1]);
  for (const q of url.matchAll(/password=([^&\s#]+)/gi)) if (q[1]) found.push(q[1]);
  for (const s of [...found]) {
    try {
      found.push(decodeURIComponent(s));
    } catch {
      // Not percent-encoded: the raw form is enough.
    }
  }
  return found.filter((s) => s.length > 0);
}

/** Options of {@link PostgresBackend}. */
export interface PostgresBackendOptions {
  /** Schema holding the tables; created if missing. Default `public`. */
  schema?: string;
  /** Most connections this backend opens at once. Default 2. */
  maxConnections?: number;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** Key of the transaction-level advisory lock that serializes table creation ('STRA'). */
const DDL_LOCK_KEY = 0x53545241;

interface StateRow {
  lineage: string;
  serial: string;
}

interface LockRow {
  id: string;
  operation: string;
  who: string;
  created: Date;
  process: string | null;
}

function lockerName(): string {
  let user = process.env.USER ?? 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (some containers): fall back to $USER.
  }
  return `${user}@${hostname()} pid ${process.pid}`;
}

/**
 * State in PostgreSQL, for teams and CI: one row per stack in `stratus_state` (the doc as jsonb, the
 * previous doc kept in its `previous` column as the backup), and at most one row per stack in
 * `stratus_locks`. Tables are created on first use. Call `close()` when done.
 */
export class PostgresBackend implements StateBackend {
  readonly where: string;
  /** The connection pool, made on first use: loading `pg` costs a CLI that never queries. */
  private poolPromise: Promise<pg.Pool> | undefined;
  private readonly url: string;
  private readonly maxConnections: number;
  private readonly state: string;
  private readonly locks: string;
  private readonly secrets: string[];
  private ready: Promise<void> | undefined;
  private closed: Promise<void> | undefined;

  constructor(
    url: string,
    /** The stack whose row this backend reads, writes and locks. */
    readonly stack: string,
    opts: PostgresBackendOptions = {},
  ) {
    const schema = opts.schema ?? 'public';
    if (!IDENT.test(schema)) throw new TypeError(`invalid schema name ${JSON.stringify(schema)}`);
    this.state = `"${schema}".stratus_state`;
    this.locks = `"${schema}".stratus_locks`;
    this.secrets = secretsOf(url);
    this.where = `${redactUrl(url)} (${schema === 'public' ? '' : `schema ${schema}, `}stack ${stack})`;
    this.url = url;
    this.maxConnections = opts.maxConnections ?? 2;
  }

  /** The connection pool, created (and `pg` loaded) on the first query. */
  private pool(): Promise<pg.Pool> {
    // As pg's own pool answers after end().
    if (this.closed && !this.poolPromise)
      return Promise.reject(new Error('Cannot use a pool after calling end on the pool'));
    // By importModule: the CLI's bundle cannot import() (util/import-module.ts).
    this.poolPromise ??= importModule<{ default: typeof pg }>('pg').then(({ default: driver }) => {
      // allowExitOnIdle: a CLI that forgets close() still exits instead of hanging on idle connections.
      const pool = new driver.Pool({
        connectionString: this.url,
        max: this.maxConnections,
        connectionTimeoutMillis: 15_000,
        allowExitOnIdle: true,
      });
      // An idle connection dropped by the server emits 'error'; unhandled, it would crash the process.
      // The next query gets a fresh connection or reports the problem itself.
      pool.on('error', () => {});
      return pool;
    });
    return this.poolPromise;
  }

  async read(): Promise<StateDoc | null> {
    await this.ensureTables();
    const res = await this.query<{ doc: unknown }>(`SELECT doc FROM ${this.state} WHERE stack = $1`, [
      this.stack,
    ]);
    const row = res.rows[0];
    if (row === undefined) return null;
    return checkStateDoc(row.doc, this.where, this.restoreHint());
  }

  /** How to put the backup (the `previous` column) back, for messages about a damaged document. */
  private restoreHint(): string {
    return `The previous version is kept in column "previous" of ${this.state}; check it, then restore it with: UPDATE ${this.state} SET doc = previous WHERE stack = '${this.stack.replaceAll("'", "''")}' AND previous IS NOT NULL`;
  }

  /** The document the last write replaced (the backup), or null; checked like {@link read}. */
  async readPrevious(): Promise<StateDoc | null> {
    await this.ensureTables();
    const res = await this.query<{ previous: unknown }>(
      `SELECT previous FROM ${this.state} WHERE stack = $1`,
      [this.stack],
    );
    const prev = res.rows[0]?.previous;
    if (prev === undefined || prev === null) return null;
    return checkStateDoc(
      prev,
      `${this.where} (previous version)`,
      'It is the backup itself; there is no older one.',
    );
  }

  async write(doc: StateDoc): Promise<void> {
    await this.ensureTables();
    const json = JSON.stringify(doc);
    // Two first writes can both find no row to lock; the loser's INSERT then does nothing and it
    // goes round again, now seeing (and checking against) the winner's row.
    for (let attempt = 0; attempt < 3; attempt++) {
      const done = await this.transaction(async (c) => {
        const cur = await c.query<StateRow>(
          `SELECT lineage, serial::text AS serial FROM ${this.state} WHERE stack = $1 FOR UPDATE`,
          [this.stack],
        );
        const row = cur.rows[0];
        if (!row) {
          const ins = await c.query(
            `INSERT INTO ${this.state} (stack, lineage, serial, doc, previous, updated_at)
             VALUES ($1, $2, $3, $4::jsonb, NULL, now()) ON CONFLICT (stack) DO NOTHING`,
            [this.stack, doc.lineage, doc.serial, json],
          );
          return ins.rowCount === 1;
        }
        if (row.lineage !== doc.lineage)
          throw new StateError(
            'lineage_mismatch',
            `refusing to overwrite ${this.where}: it belongs to lineage ${row.lineage}, not ${doc.lineage}`,
          );
        if (BigInt(doc.serial) <= BigInt(row.serial))
          throw new StateError(
            'stale_serial',
            `refusing to overwrite ${this.where}: its serial ${row.serial} is not older than ${doc.serial}`,
          );
        // `previous = doc` reads the pre-update value: the backup and the new doc land in one statement.
        await c.query(
          `UPDATE ${this.state} SET previous = doc, doc = $2::jsonb, lineage = $3, serial = $4, updated_at = now()
           WHERE stack = $1`,
          [this.stack, json, doc.lineage, doc.serial],
        );
        return true;
      });
      if (done) return;
    }
    throw new Error(`state ${this.where}: could not write after concurrent first writes`);
  }

  async lock(operation: string, hooks?: LockHooks): Promise<() => Promise<void>> {
    await this.ensureTables();
    const info: LockInfo = {
      id: randomUUID(),
      operation,
      who: lockerName(),
      created: new Date().toISOString(),
      process: processToken(),
    };
    // The primary key decides: of racing INSERTs exactly one adds the row, the others conflict and
    // get no row back. Each INSERT commits on its own, so nobody waits on a lock holder.
    // A lock that vanishes between our INSERT and the SELECT of its holder is tried again, and so is
    // one whose holder died on this host once we removed it. The row is a plain row, not an advisory
    // lock: it outlives the session of a killed run, so only this check frees it without force-unlock.
    for (let attempt = 0; attempt < 3; attempt++) {
      const ins = await this.query(
        `INSERT INTO ${this.locks} (stack, id, operation, who, created, process) VALUES ($1, $2, $3, $4, $5::timestamptz, $6)
         ON CONFLICT (stack) DO NOTHING RETURNING id`,
        [this.stack, info.id, info.operation, info.who, info.created, info.process ?? null],
      );
      if (ins.rowCount === 1) {
        let released: Promise<void> | undefined;
        return () => {
          released ??= this.query(`DELETE FROM ${this.locks} WHERE stack = $1 AND id = $2`, [
            this.stack,
            info.id,
          ]).then(() => {});
          return released;
        };
      }
      const holder = await this.holder();
      if (holder && holderIsDead(holder)) {
        // By id: a live run's lock that replaced the dead one in between is left alone.
        const del = await this.query(`DELETE FROM ${this.locks} WHERE stack = $1 AND id = $2`, [
          this.stack,
          holder.id,
        ]);
        if (del.rowCount === 1) hooks?.onStaleCleared?.(staleClearedMessage(this.where, holder));
        continue;
      }
      if (holder)
        throw new StateError(
          'locked',
          lockedMessage(
            this.where,
            holder,
            `stratus force-unlock ${holder.id} (with this command's backend options)`,
          ),
        );
    }
    throw new StateError('locked', `state ${this.where} is locked by unknown (?) since ?; lock id ?`);
  }

  async forceUnlock(lockId: string): Promise<void> {
    await this.ensureTables();
    const del = await this.query(`DELETE FROM ${this.locks} WHERE stack = $1 AND id = $2 RETURNING id`, [
      this.stack,
      lockId,
    ]);
    if (del.rowCount === 1) return;
    const held = await this.holder();
    if (!held) throw new StateError('not_locked', `state ${this.where} is not locked`);
    throw new StateError('not_locked', `state ${this.where} is locked with id ${held.id}, not ${lockId}`);
  }

  /** Closes the connection pool. Safe to call twice. */
  close(): Promise<void> {
    // A pool never made has nothing to close.
    this.closed ??= this.poolPromise ? this.poolPromise.then((p) => p.end()) : Promise.resolve();
    return this.closed;
  }

  private async holder(): Promise<LockInfo | null> {
    const res = await this.query<LockRow>(
      `SELECT id, operation, who, created, process FROM ${this.locks} WHERE stack = $1`,
      [this.stack],
    );
    const row = res.rows[0];
    if (!row) return null;
    const held: LockInfo = {
      id: row.id,
      operation: row.operation,
      who: row.who,
      created: row.created.toISOString(),
    };
    if (row.process !== null) held.process = row.process;
    return held;
  }

  /**
   * Creates schema and tables once per backend. The DDL runs only when a table is missing (so a role
   * without CREATE rights can use tables an admin made), under a transaction-level advisory lock, since
   * concurrent `CREATE TABLE IF NOT EXISTS` can still fail on a duplicate catalog entry.
   */
  private ensureTables(): Promise<void> {
    this.ready ??= this.createTables().catch((e: unknown) => {
      this.ready = undefined;
      throw e;
    });
    return this.ready;
  }

  private async createTables(): Promise<void> {
    const exists = await this.query<{ ok: boolean; process: boolean }>(
      `SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL AS ok,
        EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($2) AND attname = 'process' AND NOT attisdropped) AS process`,
      [this.state, this.locks],
    );
    if (exists.rows[0]?.ok) {
      // Tables made by a version before locks recorded their holder process get the column.
      if (!exists.rows[0].process)
        await this.query(`ALTER TABLE ${this.locks} ADD COLUMN IF NOT EXISTS process text`, []);
      return;
    }
    const schema = this.state.slice(0, this.state.indexOf('.'));
    await this.transaction(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [DDL_LOCK_KEY]);
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await c.query(`CREATE TABLE IF NOT EXISTS ${this.state} (
        stack text PRIMARY KEY,
        lineage text NOT NULL,
        serial bigint NOT NULL,
        doc jsonb NOT NULL,
        previous jsonb,
        updated_at timestamptz NOT NULL DEFAULT now())`);
      await c.query(`CREATE TABLE IF NOT EXISTS ${this.locks} (
        stack text PRIMARY KEY,
        id text NOT NULL,
        operation text NOT NULL,
        who text NOT NULL,
        created timestamptz NOT NULL,
        process text)`);
    });
  }

  private async query<R extends pg.QueryResultRow>(
    sql: string,
    params: unknown[],
  ): Promise<pg.QueryResult<R>> {
    try {
      return await (await this.pool()).query<R>(sql, params);
    } catch (e) {
      throw this.scrub(e);
    }
  }

  private async transaction<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await (await this.pool()).connect();
    } catch (e) {
      throw this.scrub(e);
    }
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      client.release();
      return out;
    } catch (e) {
      // A connection whose ROLLBACK fails is broken: destroy it rather than return it to the pool.
      const broken = await client.query('ROLLBACK').then(
        () => false,
        () => true,
      );
      client.release(broken);
      throw e instanceof StateError ? e : this.scrub(e);
    }
  }

  /** An error safe to show: no password, no cause chain that could carry the connection string. */
  private scrub(e: unknown): Error {
    let msg = e instanceof Error ? e.message : String(e);
    for (const s of this.secrets) msg = msg.split(s).join('***');
    const err = new Error(`postgres state ${this.where}: ${redactUrl(msg)}`);
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') Object.assign(err, { code });
    return err;
  }
}
