/**
 * The resource provider behind `pulumi-resource-stratus`: Pulumi's ResourceProvider calls (CheckConfig,
 * Configure, Check, Diff, Create, Read, Update, Delete, Cancel) on plain values, each calling the shared
 * provider protocol (`resourceProvider(schema, agentResourceIO(...))`): the same validation, the one diff
 * and the same agent calls as `stratus plan`/`apply` and the Terraform provider. Nothing here is
 * specific to a resource type: types come from the registry (or the types a test serves), found by the
 * token in the resource's URN. serve.ts moves these values over gRPC with Pulumi's own stubs.
 *
 * Semantics follow Pulumi's provider contract (pulumi/proto/pulumi/provider.proto): Check returns the
 * inputs with defaults (and `name` defaulting to the resource's name, as a stack file's does) and
 * check failures with property paths; Diff answers a detailed diff, replacing where the model's diff
 * says `requiresReplace`; Create/Update with `preview` plan without touching the host; Read with no
 * properties is an import; an id Read no longer finds is answered with an empty id (the resource is
 * gone). Sensitive attributes are secrets in every answer (values.ts).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { attributes, formatPath, type ResourceSchema, registry, timeoutsOf, UNKNOWN } from '@stratus/model';
import { AgentClient, AgentPool, LOCAL_HOST, localAgentPaths } from '@stratus/sdk/client';
import {
  agentResourceIO,
  knownInputs,
  type ProtocolDiagnostic,
  type ProtocolLog,
  type ProviderContext,
  type ResourceProvider,
  resourceProvider,
  type Values,
} from '@stratus/sdk/protocol';
import { configVariables, PACKAGE, packageSchema, typeOfToken } from './schema.js';
import { fromPulumi, toPulumi } from './values.js';

/** A check failure: the property's path (`networks[0].subnet`) and why. */
export interface CheckFailure {
  property: string;
  reason: string;
}

/** What Check answers. */
export interface CheckResult {
  inputs: Record<string, unknown>;
  failures: CheckFailure[];
}

/** The kind of one property's change (Pulumi's `PropertyDiff.Kind`). */
export type DiffKind = 'ADD' | 'ADD_REPLACE' | 'DELETE' | 'DELETE_REPLACE' | 'UPDATE' | 'UPDATE_REPLACE';

/** What Diff answers. */
export interface DiffResult {
  changes: boolean;
  /** Top-level properties whose change replaces the resource. */
  replaces: string[];
  detailedDiff: Record<string, { kind: DiffKind; inputDiff: boolean }>;
  deleteBeforeReplace: boolean;
}

/**
 * A failed Create or Update. With `id`, the object exists and is usable (only what the request asked it
 * to wait for did not happen): Pulumi records it with `properties` (ErrorResourceInitFailed).
 */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly initFailed?: { id: string; properties: Record<string, unknown>; reasons: string[] },
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

/** Options of the provider. */
export interface PulumiProviderOptions {
  /** Resource types to serve (default: the registry; a test adds a type this way). */
  types?: Record<string, ResourceSchema>;
  /** The plugin's version (GetPluginInfo, the schema's `version`). */
  version?: string;
  /** Where log lines go (the engine's log, at debug level); never given attribute values. */
  log?: (severity: 'debug' | 'warning', message: string, urn?: string) => void;
}

/** A call's place in Pulumi: `urn:pulumi:<stack>::<project>::<parent$type>::<name>`. */
export function parseUrn(urn: string): { stack: string; project: string; token: string; name: string } {
  const parts = urn.split('::');
  const stack = (parts[0] ?? '').replace(/^urn:pulumi:/, '');
  const qualified = parts[2] ?? '';
  return {
    stack,
    project: parts[1] ?? '',
    token: qualified.split('$').pop() ?? '',
    name: parts.slice(3).join('::'),
  };
}

/** `provider.apply`'s error diagnostics in one message, each with its property path. */
function message(ds: ProtocolDiagnostic[]): string {
  return ds
    .filter((d) => d.severity === 'error')
    .map(
      (d) =>
        `${d.path && d.path.length > 0 ? `${formatPath(d.path)}: ` : ''}${d.summary}${d.code ? ` (Stratus error code: ${d.code})` : ''}`,
    )
    .join('; ');
}

const CONFIG_KEYS = Object.keys(configVariables());
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The state of one provider process: its configuration and the providers bound to the configured agent. */
export class StratusPulumiProvider {
  readonly types: Record<string, ResourceSchema>;
  readonly version: string;
  private schemaJson: string | undefined;
  private providers = new Map<string, ResourceProvider>();
  private pool: AgentPool | null = null;
  private host = LOCAL_HOST;
  private stop = new AbortController();
  private readonly logLine: NonNullable<PulumiProviderOptions['log']>;

  constructor(opts: PulumiProviderOptions = {}) {
    this.types = opts.types ?? registry;
    this.version = opts.version ?? '0.1.0';
    this.logLine = opts.log ?? (() => undefined);
  }

  /** The package schema, as GetSchema returns it. */
  schema(): string {
    this.schemaJson ??= JSON.stringify(packageSchema(this.types, this.version));
    return this.schemaJson;
  }

  /** CheckConfig: the provider's settings, each problem at its key. */
  checkConfig(news: Record<string, unknown>): CheckResult {
    const c = this.config(news);
    const failures: CheckFailure[] = [];
    if (c.agentUrl !== undefined && !/^https?:\/\/[^/]+/.test(c.agentUrl))
      failures.push({
        property: 'agentUrl',
        reason: 'must be an http:// or https:// URL such as https://10.0.0.5:8443',
      });
    if (c.agentUrl !== undefined && c.agentSocket !== undefined)
      failures.push({ property: 'agentUrl', reason: 'set agentSocket or agentUrl, not both' });
    if (c.token !== undefined && c.tokenFile !== undefined)
      failures.push({ property: 'token', reason: 'set token or tokenFile, not both' });
    const inputs: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(news)) if (k === 'version' || CONFIG_KEYS.includes(k)) inputs[k] = v;
    return { inputs, failures };
  }

  /** The provider's settings from Configure's `args` (or CheckConfig's news), or its `stratus:KEY` variables. */
  private config(
    args: Record<string, unknown>,
    variables: Record<string, string> = {},
  ): Record<string, string | undefined> {
    const { values } = fromPulumi(args);
    const out: Record<string, string | undefined> = {};
    for (const k of CONFIG_KEYS) {
      const v = values[k] ?? variables[`${PACKAGE}:${k}`] ?? variables[k];
      out[k] = typeof v === 'string' && v !== '' ? v : undefined;
    }
    return out;
  }

  /**
   * Configure: binds the providers to the agent the settings name (default: the local agent, as the
   * CLI finds it: STRATUS_AGENT_SOCKET, STRATUS_AGENT_STATE_DIR). Objects it makes record Pulumi's
   * stack as their owner. Throws when the CA file cannot be read.
   */
  configure(args: Record<string, unknown> = {}, variables: Record<string, string> = {}, urn?: string): void {
    const c = this.config(args, variables);
    const paths = localAgentPaths(process.env);
    let ca: Buffer | undefined;
    if (c.caFile) {
      try {
        ca = readFileSync(c.caFile);
      } catch (e) {
        throw new ProviderError(
          `caFile: cannot read ${c.caFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        );
      }
    }
    const stack = urn ? parseUrn(urn).stack : undefined;
    const endpoint = {
      ...(c.agentUrl ? { url: c.agentUrl } : { socket: c.agentSocket ?? paths.socket }),
      ...(c.token ? { token: c.token } : { tokenFile: c.tokenFile ?? paths.tokenFile }),
      ...(ca ? { ca } : {}),
      // Pulumi's state holds what this provider makes: `stratus list` shows it so and never removes it.
      owner: { tool: 'pulumi', ...(stack ? { stack } : {}) },
    };
    this.host = c.host ?? LOCAL_HOST;
    const host = this.host;
    this.pool = new AgentPool(async (h) => {
      if (h !== host) throw new Error(`no agent is configured for host ${JSON.stringify(h)}`);
      return new AgentClient(endpoint);
    });
    this.providers.clear();
  }

  /** Cancel: every operation in flight is aborted (its agent request cancelled). */
  cancel(): void {
    this.stop.abort(new DOMException('Pulumi cancelled the operation', 'AbortError'));
    this.stop = new AbortController();
  }

  /** The type a URN names, or an error naming it. */
  private typeOf(urn: string): ResourceSchema {
    const { token } = parseUrn(urn);
    const schema = token.startsWith(`${PACKAGE}:`) ? typeOfToken(token, this.types) : undefined;
    if (!schema)
      throw new ProviderError(`unknown resource type ${token}: this Stratus provider does not serve it`);
    return schema;
  }

  private providerOf(schema: ResourceSchema): ResourceProvider {
    if (!this.pool) this.configure();
    let p = this.providers.get(schema.type);
    if (!p) {
      p = resourceProvider(schema, agentResourceIO(schema, this.pool!));
      this.providers.set(schema.type, p);
    }
    return p;
  }

  private ctx(urn: string, timeoutMs: number, signal?: AbortSignal): ProviderContext {
    const log: ProtocolLog = {
      // Fields are names, ids and codes (the protocol never logs attribute values).
      debug: (m, f) => this.logLine('debug', f ? `${m} ${JSON.stringify(f)}` : m, urn),
      warn: (m, f) => this.logLine('warning', f ? `${m} ${JSON.stringify(f)}` : m, urn),
    };
    return {
      signal: AbortSignal.any([
        this.stop.signal,
        AbortSignal.timeout(timeoutMs),
        ...(signal ? [signal] : []),
      ]),
      log,
      host: this.host,
    };
  }

  /** The input attributes among values (with unknowns kept). */
  private inputsOf(schema: ResourceSchema, v: Values): Values {
    const out: Values = {};
    for (const a of attributes(schema)) if (a.input && v[a.name] !== undefined) out[a.name] = v[a.name];
    return out;
  }

  /**
   * Check: the inputs with defaults, and every problem the model finds (schema, the type's own checks,
   * relative local paths) as a failure at its property path. Values not known yet are checked later.
   */
  check(urn: string, news: Record<string, unknown>): CheckResult {
    const schema = this.typeOf(urn);
    const { values, secrets } = fromPulumi(news);
    const config: Values = { ...values };
    const failures: CheckFailure[] = [];
    for (const a of attributes(schema)) {
      if (!a.input) {
        if (config[a.name] !== undefined) {
          failures.push({ property: a.name, reason: 'is computed by Stratus and cannot be set' });
          delete config[a.name];
        }
        continue;
      }
      if (a.name === 'name' && config.name === undefined) config.name = parseUrn(urn).name;
      if (config[a.name] === undefined && a.default !== undefined)
        config[a.name] = structuredClone(a.default);
      const v = config[a.name];
      if (a.localPath && typeof v === 'string' && !isAbsolute(v))
        failures.push({
          property: a.name,
          reason: `must be an absolute path, e.g. path.resolve(${JSON.stringify(v)}) in the program`,
        });
    }
    for (const d of this.providerOf(schema).validate({ config }).diagnostics)
      if (d.severity === 'error') failures.push({ property: formatPath(d.path ?? []), reason: d.summary });
    return { inputs: toPulumi(schema, config, secrets), failures };
  }

  /** Diff: the model's one diff between the state (olds) and the checked inputs (news). */
  diff(req: {
    urn: string;
    olds: Record<string, unknown>;
    news: Record<string, unknown>;
    ignoreChanges?: string[];
  }): DiffResult {
    const schema = this.typeOf(req.urn);
    const olds = fromPulumi(req.olds).values;
    const news = this.inputsOf(schema, fromPulumi(req.news).values);
    const ignore = (req.ignoreChanges ?? []).map((p) => p.split(/[.[]/)[0]!).filter(Boolean);
    const out = this.providerOf(schema).plan({ prior: olds, proposed: news, ignore });
    const detailedDiff: DiffResult['detailedDiff'] = {};
    for (const c of out.changes) {
      const base: DiffKind = c.before === undefined ? 'ADD' : c.after === undefined ? 'DELETE' : 'UPDATE';
      detailedDiff[c.name] = {
        kind: c.requiresReplace ? (`${base}_REPLACE` as DiffKind) : base,
        inputDiff: true,
      };
    }
    // Changed outside Stratus (the model's drift rule): an update (the agent's ensure) repairs it.
    const drift = out.changes.length === 0 ? schema.drift?.(olds) : undefined;
    if (drift) {
      this.logLine('warning', `${schema.type} drifted: ${drift}; updating it in place repairs it`, req.urn);
      const at = 'status' in schema.outputs.properties ? 'status' : Object.keys(schema.outputs.properties)[0];
      if (at) detailedDiff[at] = { kind: 'UPDATE', inputDiff: false };
    }
    return {
      changes: out.changes.length > 0 || drift !== undefined,
      replaces: [...new Set(out.requiresReplace.map((p) => String(p[0])))],
      detailedDiff,
      // Stratus replaces as its CLI and Terraform do: the old object goes first, so a fixed address, a
      // CIDR or a name the new one takes over is free again.
      deleteBeforeReplace: out.requiresReplace.length > 0,
    };
  }

  private timeout(schema: ResourceSchema, op: 'create' | 'update' | 'delete', seconds: number): number {
    return seconds > 0 ? seconds * 1000 : timeoutsOf(schema)[op];
  }

  /** Create: with `preview`, the planned properties (unknown where only the host can tell); else makes it. */
  async create(
    req: { urn: string; properties: Record<string, unknown>; timeout?: number; preview?: boolean },
    signal?: AbortSignal,
  ): Promise<{ id: string; properties: Record<string, unknown> }> {
    const schema = this.typeOf(req.urn);
    const { values, secrets } = fromPulumi(req.properties);
    const provider = this.providerOf(schema);
    const plan = provider.plan({ prior: null, proposed: this.inputsOf(schema, values) });
    if (!plan.planned) throw new ProviderError('nothing to create');
    if (req.preview) return { id: '', properties: toPulumi(schema, plan.planned, secrets) };
    const id = randomUUID();
    const ctx = this.ctx(req.urn, this.timeout(schema, 'create', req.timeout ?? 0), signal);
    this.logLine('debug', `creating ${schema.type} ${id}`, req.urn);
    const out = await provider.apply(ctx, { id, prior: null, planned: plan.planned });
    const failed = out.diagnostics.filter((d) => d.severity === 'error');
    if (failed.length > 0) {
      const text = `creating ${schema.type} failed: ${message(failed)}`;
      throw new ProviderError(
        text,
        out.newState
          ? { id, properties: toPulumi(schema, out.newState, secrets), reasons: failed.map((d) => d.summary) }
          : undefined,
      );
    }
    return { id, properties: toPulumi(schema, out.newState, secrets) };
  }

  /**
   * Read: refresh (with the state's properties) or import (with none). An import takes over a Stratus id
   * the agent manages, or adopts a host object by the agent's import (a libvirt domain name or UUID, a
   * bridge). The answer's inputs are the state's own inputs on refresh, those the object shows on import.
   */
  async read(
    req: {
      id: string;
      urn: string;
      properties: Record<string, unknown>;
      inputs: Record<string, unknown>;
      timeout?: number;
    },
    signal?: AbortSignal,
  ): Promise<{ id: string; properties: Record<string, unknown>; inputs: Record<string, unknown> }> {
    const schema = this.typeOf(req.urn);
    const state = fromPulumi(req.properties);
    const inputs = fromPulumi(req.inputs);
    const secrets = new Set([...state.secrets, ...inputs.secrets]);
    const provider = this.providerOf(schema);
    const ctx = this.ctx(req.urn, this.timeout(schema, 'update', req.timeout ?? 0), signal);
    const importing = Object.keys(state.values).length === 0;
    let id = req.id;
    let newState: Values | null;
    if (importing) {
      // A Stratus id the agent manages is taken over as recorded; anything else is adopted from the host.
      const known = UUID.test(id) ? await provider.read(ctx, { id, state: {} }) : null;
      if (known?.newState && !known.diagnostics.some((d) => d.severity === 'error'))
        newState = known.newState;
      else {
        const imported = await provider.import(ctx, { externalId: id });
        if (!imported.id || !imported.state)
          throw new ProviderError(`importing ${schema.type} ${id} failed: ${message(imported.diagnostics)}`);
        id = imported.id;
        newState = imported.state;
      }
    } else {
      const out = await provider.read(ctx, { id, state: state.values });
      if (out.diagnostics.some((d) => d.severity === 'error'))
        throw new ProviderError(`reading ${schema.type} ${id} failed: ${message(out.diagnostics)}`);
      newState = out.newState;
    }
    if (!newState) return { id: '', properties: {}, inputs: {} };
    const keptInputs =
      !importing && Object.keys(inputs.values).length > 0 ? inputs.values : knownInputs(schema, newState);
    return {
      id,
      properties: toPulumi(schema, newState, secrets),
      inputs: toPulumi(schema, keptInputs, secrets),
    };
  }

  /** Update: in place, as the model's diff planned it (with `preview`, the planned properties). */
  async update(
    req: {
      id: string;
      urn: string;
      olds: Record<string, unknown>;
      news: Record<string, unknown>;
      timeout?: number;
      preview?: boolean;
      ignoreChanges?: string[];
    },
    signal?: AbortSignal,
  ): Promise<{ properties: Record<string, unknown> }> {
    const schema = this.typeOf(req.urn);
    const olds = fromPulumi(req.olds);
    const news = fromPulumi(req.news);
    const secrets = new Set([...olds.secrets, ...news.secrets]);
    const provider = this.providerOf(schema);
    const ignore = (req.ignoreChanges ?? []).map((p) => p.split(/[.[]/)[0]!).filter(Boolean);
    const plan = provider.plan({ prior: olds.values, proposed: this.inputsOf(schema, news.values), ignore });
    if (!plan.planned) throw new ProviderError('nothing to update');
    if (plan.requiresReplace.length > 0)
      throw new ProviderError(
        `${plan.requiresReplace.map((p) => formatPath(p)).join(', ')} cannot change in place: the resource must be replaced`,
      );
    if (req.preview) {
      const planned = { ...plan.planned };
      // Drift repaired by this update: what the host will report is known only after it.
      if (plan.changes.length === 0 && schema.drift?.(olds.values))
        for (const a of attributes(schema)) if (!a.input) planned[a.name] = UNKNOWN;
      return { properties: toPulumi(schema, planned, secrets) };
    }
    const ctx = this.ctx(req.urn, this.timeout(schema, 'update', req.timeout ?? 0), signal);
    this.logLine('debug', `updating ${schema.type} ${req.id}`, req.urn);
    const out = await provider.apply(ctx, { id: req.id, prior: olds.values, planned: plan.planned });
    const failed = out.diagnostics.filter((d) => d.severity === 'error');
    if (failed.length > 0)
      throw new ProviderError(
        `updating ${schema.type} ${req.id} failed: ${message(failed)}`,
        out.newState
          ? {
              id: req.id,
              properties: toPulumi(schema, out.newState, secrets),
              reasons: failed.map((d) => d.summary),
            }
          : undefined,
      );
    return { properties: toPulumi(schema, out.newState, secrets) };
  }

  /** Delete: removes the object and everything it made on the host; an object already gone is fine. */
  async delete(
    req: { id: string; urn: string; properties: Record<string, unknown>; timeout?: number },
    signal?: AbortSignal,
  ): Promise<void> {
    const schema = this.typeOf(req.urn);
    const { values } = fromPulumi(req.properties);
    const ctx = this.ctx(req.urn, this.timeout(schema, 'delete', req.timeout ?? 0), signal);
    this.logLine('debug', `deleting ${schema.type} ${req.id}`, req.urn);
    const out = await this.providerOf(schema).apply(ctx, { id: req.id, prior: values, planned: null });
    if (out.diagnostics.some((d) => d.severity === 'error'))
      throw new ProviderError(`deleting ${schema.type} ${req.id} failed: ${message(out.diagnostics)}`);
  }
}
