/**
 * The tfplugin6 Provider service of terraform-provider-stratus: each RPC decodes Terraform's values into
 * the model's form and calls the shared provider protocol (`agentProviders(pool)`): the same validation,
 * diff and agent calls as `stratus plan`/`apply`. Nothing here is specific to a resource type: the
 * schemas come from the registry (see schema.ts).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import {
  type ApiHostInfo,
  type ApiList,
  type AttributePath,
  deepEqual,
  isUnknown,
  type ResourceSchema,
  registry,
  timeoutsOf,
  UNKNOWN,
} from '@stratus/model';
import { AgentClient, AgentPool, LOCAL_HOST, localAgentPaths } from '@stratus/sdk/client';
import {
  agentProviders,
  agentResourceIO,
  errorDiagnostic,
  type ProtocolDiagnostic,
  type ProviderContext,
  type ResourceProvider,
  resourceProvider,
  type Values,
} from '@stratus/sdk/protocol';
import {
  dataSourceBlocks,
  PROVIDER_BLOCK,
  resourceBlocks,
  type Shape,
  snakeCase,
  type TfAttribute,
  type TfBlock,
  tfType,
} from './schema.js';
import {
  type DynamicValue,
  decodeDynamic,
  encodeDynamic,
  fromTf,
  type TfPathStep,
  tfPath,
  toTf,
} from './values.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A diagnostic as the protobuf message. */
interface TfDiagnostic {
  severity: 'ERROR' | 'WARNING';
  summary: string;
  detail?: string;
  attribute?: { steps: TfPathStep[] };
}

/** Where log lines go: stderr as hclog JSON lines, which Terraform shows with TF_LOG. */
const log = {
  debug: (message: string, fields?: Record<string, unknown>) =>
    process.stderr.write(`${JSON.stringify({ '@level': 'debug', '@message': message, ...fields })}\n`),
  warn: (message: string, fields?: Record<string, unknown>) =>
    process.stderr.write(`${JSON.stringify({ '@level': 'warn', '@message': message, ...fields })}\n`),
};

/** Options of the provider server. */
export interface StratusProviderOptions {
  /** Resource types to serve (default: the registry; a test adds a type this way). */
  types?: Record<string, ResourceSchema>;
}

function toDiagnostic(d: ProtocolDiagnostic, shape?: Shape): TfDiagnostic {
  const detail = [d.code ? `Stratus error code: ${d.code}` : '', d.retryable ? 'Retrying may succeed.' : '']
    .filter(Boolean)
    .join(' ');
  const steps = d.path && d.path.length > 0 && shape ? tfPath(d.path, shape) : [];
  // Terraform 1.11 places a diagnostic only at a top-level attribute (a longer path falls back to the
  // resource's first line), so the place inside the attribute goes into the summary instead.
  const inside = steps.length > 1 ? `${formatTfPath(steps)}: ` : '';
  return {
    severity: d.severity === 'error' ? 'ERROR' : 'WARNING',
    summary: `${inside}${d.summary}`,
    ...(detail ? { detail } : {}),
    ...(steps.length > 0 ? { attribute: { steps: steps.slice(0, 1) } } : {}),
  };
}

/** `allocation_pools[0].start`. */
function formatTfPath(steps: TfPathStep[]): string {
  return steps
    .map((s, i) =>
      'attribute_name' in s
        ? `${i === 0 ? '' : '.'}${s.attribute_name}`
        : 'element_key_int' in s
          ? `[${s.element_key_int}]`
          : `[${JSON.stringify(s.element_key_string)}]`,
    )
    .join('');
}

const error = (summary: string, detail?: string): TfDiagnostic => ({
  severity: 'ERROR',
  summary,
  ...(detail ? { detail } : {}),
});

/** Input values the user set, with each unset attribute that has a default given it. */
function withDefaults(block: TfBlock, v: Values): Values {
  const out = { ...v };
  for (const a of block.attributes)
    if (a.input && out[a.key] === undefined && a.default !== undefined)
      out[a.key] = structuredClone(a.default);
  return out;
}

/** Only the input attributes of model values. */
function inputsOf(block: TfBlock, v: Values): Values {
  const out: Values = {};
  for (const a of block.attributes) if (a.input && v[a.key] !== undefined) out[a.key] = v[a.key];
  return out;
}

const schemaMessage = (block: TfBlock, version: number) => ({
  version,
  block: {
    version,
    description: block.description,
    description_kind: 'PLAIN',
    attributes: block.attributes.map((a) => attributeMessage(a)),
  },
});

function attributeMessage(a: TfAttribute): Record<string, unknown> {
  const base = {
    name: a.tf,
    description: a.description,
    description_kind: 'PLAIN',
    required: a.required,
    optional: a.optional,
    computed: a.computed,
    sensitive: a.sensitive,
  };
  if (a.nested && a.shape.kind === 'list' && a.shape.item.kind === 'object') {
    return {
      ...base,
      nested_type: {
        nesting: 'LIST',
        attributes: a.shape.item.fields.map((f) => ({
          name: f.tf,
          type: Buffer.from(JSON.stringify(tfType(f.shape))),
          description: '',
          required: f.required,
          optional: !f.required,
          computed: false,
          sensitive: false,
        })),
      },
    };
  }
  return { ...base, type: Buffer.from(JSON.stringify(tfType(a.shape))) };
}

/** The state of the provider server: configuration, and the providers bound to the configured agent. */
export class StratusTerraformProvider {
  private readonly types: Record<string, ResourceSchema>;
  private readonly resources: Map<string, TfBlock>;
  private readonly dataSources: Map<string, TfBlock>;
  private readonly byTfName = new Map<string, string>();
  private pool: AgentPool | null = null;
  private providers: Record<string, ResourceProvider> | null = null;
  private host = LOCAL_HOST;
  private stop = new AbortController();

  constructor(opts: StratusProviderOptions = {}) {
    this.types = opts.types ?? registry;
    this.resources = resourceBlocks(this.types);
    this.dataSources = dataSourceBlocks(this.types);
    for (const s of Object.values(this.types)) this.byTfName.set(`stratus_${snakeCase(s.type)}`, s.type);
  }

  /** The handlers of every RPC, for grpc-js's addService (unary: (call, callback)). */
  handlers(): Record<string, (req: Record<string, unknown>) => Promise<unknown> | unknown> {
    return {
      GetMetadata: () => ({
        server_capabilities: { plan_destroy: false, get_provider_schema_optional: false },
        diagnostics: [],
        resources: [...this.resources.keys()].map((type_name) => ({ type_name })),
        data_sources: [...this.dataSources.keys()].map((type_name) => ({ type_name })),
      }),
      GetProviderSchema: () => this.getProviderSchema(),
      GetFunctions: () => ({ functions: {}, diagnostics: [] }),
      ValidateProviderConfig: (r) => this.validateProviderConfig(r),
      ConfigureProvider: (r) => this.configure(r),
      ValidateResourceConfig: (r) => this.validateResource(r),
      ValidateDataResourceConfig: (r) => this.validateDataSource(r),
      UpgradeResourceState: (r) => this.upgrade(r),
      ReadResource: (r) => this.read(r),
      PlanResourceChange: (r) => this.plan(r),
      ApplyResourceChange: (r) => this.apply(r),
      ImportResourceState: (r) => this.import(r),
      ReadDataSource: (r) => this.readDataSource(r),
      MoveResourceState: (r) => ({
        diagnostics: [
          error(
            'Moving resource state between types is not supported by the Stratus provider',
            `Cannot move ${String(r.source_type_name)} to ${String(r.target_type_name)}: remove it from state and import it as the new type instead.`,
          ),
        ],
      }),
      StopProvider: () => {
        this.stop.abort(new Error('Terraform asked the provider to stop'));
        this.stop = new AbortController();
        return { Error: '' };
      },
    };
  }

  getProviderSchema(): unknown {
    const resource_schemas: Record<string, unknown> = {};
    for (const [name, block] of this.resources) {
      const s = this.types[this.byTfName.get(name)!]!;
      resource_schemas[name] = schemaMessage(block, s.version ?? 1);
    }
    const data_source_schemas: Record<string, unknown> = {};
    for (const [name, block] of this.dataSources) data_source_schemas[name] = schemaMessage(block, 0);
    return {
      provider: schemaMessage(PROVIDER_BLOCK, 0),
      resource_schemas,
      data_source_schemas,
      diagnostics: [],
      server_capabilities: { plan_destroy: false, get_provider_schema_optional: false },
    };
  }

  private resourceOf(typeName: unknown): { block: TfBlock; schema: ResourceSchema } | null {
    const t = this.byTfName.get(String(typeName));
    if (!t) return null;
    return { block: this.resources.get(String(typeName))!, schema: this.types[t]! };
  }

  private unknownType(kind: string, name: unknown) {
    return {
      diagnostics: [
        error(`Unknown ${kind} type ${String(name)}`, 'This Stratus provider does not serve it.'),
      ],
    };
  }

  /** Decodes a DynamicValue of a block into model values (null stays null). */
  private decode(v: unknown, block: TfBlock): Values | null {
    const raw = decodeDynamic(v as DynamicValue | undefined);
    if (raw === null || raw === undefined) return null;
    return (fromTf(raw, block.shape) as Values) ?? null;
  }

  private encode(v: Values | null, block: TfBlock): DynamicValue {
    return encodeDynamic(v === null ? null : toTf(v, block.shape));
  }

  private validateProviderConfig(r: Record<string, unknown>) {
    const c = this.decode(r.config, PROVIDER_BLOCK) ?? {};
    const diagnostics: TfDiagnostic[] = [];
    const at = (key: string, summary: string) =>
      diagnostics.push({ ...error(summary), attribute: { steps: tfPath([key], PROVIDER_BLOCK.shape) } });
    if (typeof c.agentUrl === 'string' && !/^https?:\/\/[^/]+/.test(c.agentUrl))
      at('agentUrl', 'agent_url must be an http:// or https:// URL such as https://10.0.0.5:8443');
    if (typeof c.agentUrl === 'string' && typeof c.agentSocket === 'string')
      at('agentUrl', 'set agent_socket or agent_url, not both');
    if (typeof c.token === 'string' && typeof c.tokenFile === 'string')
      at('token', 'set token or token_file, not both');
    return { diagnostics };
  }

  private configure(r: Record<string, unknown>) {
    const c = this.decode(r.config, PROVIDER_BLOCK) ?? {};
    const known = (k: string) => (typeof c[k] === 'string' ? (c[k] as string) : undefined);
    const paths = localAgentPaths(process.env);
    let ca: Buffer | undefined;
    try {
      ca = known('caFile') ? readFileSync(known('caFile')!) : undefined;
    } catch (e) {
      return {
        diagnostics: [
          {
            ...error(`Cannot read ca_file: ${(e as Error).message}`),
            attribute: { steps: [{ attribute_name: 'ca_file' }] },
          },
        ],
      };
    }
    const url = known('agentUrl');
    const endpoint = {
      ...(url ? { url } : { socket: known('agentSocket') ?? paths.socket }),
      ...(known('token') ? { token: known('token')! } : { tokenFile: known('tokenFile') ?? paths.tokenFile }),
      ...(ca ? { ca } : {}),
      // Terraform's state holds what this provider makes: `stratus list` shows it so and never removes it.
      owner: { tool: 'terraform' },
    };
    this.host = known('host') ?? LOCAL_HOST;
    const host = this.host;
    this.pool = new AgentPool(async (h) => {
      if (h !== host) throw new Error(`no agent is configured for host ${JSON.stringify(h)}`);
      return new AgentClient(endpoint);
    });
    const pool = this.pool;
    const providers: Record<string, ResourceProvider> = { ...agentProviders(pool) };
    // Types served beyond the registry (a test's extra type) get the same derived provider.
    for (const s of Object.values(this.types))
      if (!providers[s.type]) providers[s.type] = resourceProvider(s, agentResourceIO(s, pool));
    this.providers = providers;
    return { diagnostics: [] };
  }

  /** The providers, made from the default (environment) configuration when ConfigureProvider was not called. */
  private set(): Record<string, ResourceProvider> {
    if (!this.providers) this.configure({});
    return this.providers!;
  }

  private ctx(timeoutMs: number): ProviderContext {
    return {
      signal: AbortSignal.any([this.stop.signal, AbortSignal.timeout(timeoutMs)]),
      log,
      host: this.host,
    };
  }

  private providerOf(schema: ResourceSchema) {
    const p = this.set()[schema.type];
    if (!p) throw new Error(`no provider for ${schema.type}`);
    return p;
  }

  private validateResource(r: Record<string, unknown>) {
    const res = this.resourceOf(r.type_name);
    if (!res) return this.unknownType('resource', r.type_name);
    const config = this.decode(r.config, res.block) ?? {};
    const diagnostics = this.providerOf(res.schema)
      .validate({ config: withDefaults(res.block, inputsOf(res.block, config)) })
      .diagnostics.map((d) => toDiagnostic(d, res.block.shape));
    // The stack loader resolves local paths against the stack file; Terraform has no such place, and
    // the agent runs elsewhere, so they must be absolute.
    for (const a of res.block.attributes) {
      const v = config[a.key];
      if (a.localPath && typeof v === 'string' && !isAbsolute(v))
        diagnostics.push({
          ...error(`${a.tf} must be an absolute path, e.g. abspath("\${path.module}/${v}")`),
          attribute: { steps: [{ attribute_name: a.tf }] },
        });
    }
    return { diagnostics };
  }

  private validateDataSource(r: Record<string, unknown>) {
    if (!this.dataSources.has(String(r.type_name))) return this.unknownType('data source', r.type_name);
    return { diagnostics: [] };
  }

  private upgrade(r: Record<string, unknown>) {
    const res = this.resourceOf(r.type_name);
    if (!res) return this.unknownType('resource', r.type_name);
    const raw = r.raw_state as { json?: Buffer } | undefined;
    if (!raw?.json || raw.json.length === 0)
      return {
        diagnostics: [error('This state has no JSON form; it was written by a provider other than Stratus')],
      };
    const tf = JSON.parse(Buffer.from(raw.json).toString('utf8')) as Record<string, unknown>;
    // State as recorded: names were Terraform's at that version; attributes removed since are dropped.
    const state = (fromTf(tf, res.block.shape) as Values) ?? {};
    const out = this.providerOf(res.schema).upgrade({ state, fromVersion: Number(r.version ?? 1) });
    return {
      upgraded_state: this.encode({ ...out.state, id: state.id }, res.block),
      diagnostics: out.diagnostics.map((d) => toDiagnostic(d, res.block.shape)),
    };
  }

  private async read(r: Record<string, unknown>) {
    const res = this.resourceOf(r.type_name);
    if (!res) return this.unknownType('resource', r.type_name);
    const state = this.decode(r.current_state, res.block);
    if (!state) return { new_state: this.encode(null, res.block), diagnostics: [] };
    const id = String(state.id);
    const out = await this.providerOf(res.schema).read(this.ctx(timeoutsOf(res.schema).update), {
      id,
      state,
      ...(r.private && (r.private as Buffer).length
        ? { private: Buffer.from(r.private as Buffer).toString() }
        : {}),
    });
    const newState = out.newState ? { ...out.newState, id } : null;
    return {
      new_state: this.encode(newState, res.block),
      diagnostics: out.diagnostics.map((d) => toDiagnostic(d, res.block.shape)),
      private: Buffer.from(out.private ?? ''),
    };
  }

  private plan(r: Record<string, unknown>) {
    const res = this.resourceOf(r.type_name);
    if (!res) return this.unknownType('resource', r.type_name);
    const { block, schema } = res;
    const prior = this.decode(r.prior_state, block);
    const proposed = this.decode(r.proposed_new_state, block);
    if (!proposed) return { planned_state: this.encode(null, block), requires_replace: [], diagnostics: [] };
    const config = this.decode(r.config, block) ?? {};
    // What the user asked for: the configuration with defaults; optional+computed attributes left
    // out keep what the host chose (the model's diff skips them).
    const desired = withDefaults(block, inputsOf(block, config));
    const provider = this.providerOf(schema);
    const validation = provider.validate({ config: desired });
    if (validation.diagnostics.some((d) => d.severity === 'error'))
      return { diagnostics: validation.diagnostics.map((d) => toDiagnostic(d, block.shape)) };
    const out = provider.plan({ prior: prior ? this.withoutId(prior) : null, proposed: desired });
    const diagnostics = out.diagnostics.map((d) => toDiagnostic(d, block.shape));
    if (!out.planned) return { planned_state: this.encode(null, block), requires_replace: [], diagnostics };
    const planned: Values = { ...out.planned };
    if (!prior || out.requiresReplace.length > 0) planned.id = UNKNOWN;
    else {
      planned.id = prior.id;
      // Changed outside Stratus (the model's drift rule): the update (the agent's ensure) repairs it,
      // and what the host will then report is known only after apply.
      const drift = out.changes.length === 0 ? schema.drift?.(prior) : undefined;
      if (drift) {
        for (const a of block.attributes) if (!a.input && a.key !== 'id') planned[a.key] = UNKNOWN;
        diagnostics.push({
          severity: 'WARNING',
          summary: `${String(r.type_name)} ${String(prior.id)} drifted: ${drift}`,
          detail: 'Applying updates it in place, which repairs it.',
        });
      }
    }
    return {
      planned_state: this.encode(planned, block),
      requires_replace: out.requiresReplace.map((p: AttributePath) => ({ steps: tfPath(p, block.shape) })),
      planned_private: Buffer.from(out.plannedPrivate ?? ''),
      diagnostics,
    };
  }

  private withoutId(v: Values): Values {
    const { id: _id, ...rest } = v;
    return rest;
  }

  private async apply(r: Record<string, unknown>) {
    const res = this.resourceOf(r.type_name);
    if (!res) return this.unknownType('resource', r.type_name);
    const { block, schema } = res;
    const prior = this.decode(r.prior_state, block);
    const planned = this.decode(r.planned_state, block);
    const id =
      prior && planned && !isUnknown(planned.id)
        ? String(prior.id)
        : prior && !planned
          ? String(prior.id)
          : randomUUID();
    const t = timeoutsOf(schema);
    const timeout = !planned ? t.delete : prior && !isUnknown(planned.id) ? t.update : t.create;
    const isReplaceCreate = prior && planned && isUnknown(planned.id);
    const out = await this.providerOf(schema).apply(this.ctx(timeout), {
      id,
      prior: prior && !isReplaceCreate ? this.withoutId(prior) : null,
      planned: planned ? this.withoutId(planned) : null,
    });
    const newState = out.newState ? { ...out.newState, id } : null;
    return {
      new_state: this.encode(newState, block),
      private: Buffer.from(out.private ?? ''),
      diagnostics: out.diagnostics.map((d) => toDiagnostic(d, block.shape)),
    };
  }

  /**
   * ImportResourceState: a Stratus id the agent manages is taken over as recorded; anything else (a
   * libvirt domain name or UUID, a bridge, an image file) is adopted by the agent's import, which reads
   * what the host object has into a record (a domain's disk and its backing image, NICs and their
   * networks, memory, vCPUs, firmware, machine, name).
   *
   * What the import cannot know, and why the plan after it is still empty: Terraform gives a provider
   * no configuration at import or read, so the imported state can only hold what the host shows.
   * - Optional attributes a foreign object has no counterpart for are recorded as a configuration that
   *   leaves them out asks for (derived defaults): the model's default (`public_keys = {}`), or unset
   *   where the agent derives the value (`hostname` from the name, no `wait`), so such a
   *   configuration plans nothing.
   * - Attributes only ever given at creation (user data, admin password, key pair) were never given
   *   to a domain made elsewhere: they stay null. A configuration that sets one plans what it really
   *   means, a replacement (the running guest never got it), rather than recording a value that is not
   *   true of the guest. To adopt such a domain as it is, list them in `lifecycle { ignore_changes }`:
   *   Terraform then plans from the imported value, the counterpart at plan time of the provider
   *   tests' ImportStateVerifyIgnore (tests/e2e/cdktf.test.ts shows both).
   */
  private async import(r: Record<string, unknown>) {
    const res = this.resourceOf(r.type_name);
    if (!res) return this.unknownType('resource', r.type_name);
    const provider = this.providerOf(res.schema);
    const ctx = this.ctx(timeoutsOf(res.schema).update);
    const externalId = String(r.id);
    // A Stratus id the agent already manages (state lost or written elsewhere) is taken over as it is;
    // anything else is adopted from the host by the protocol's import (a domain name or UUID, a bridge).
    if (UUID.test(externalId)) {
      const known = await provider.read(ctx, { id: externalId, state: {} });
      if (known.newState)
        return {
          imported_resources: [
            { type_name: r.type_name, state: this.encode({ ...known.newState, id: externalId }, res.block) },
          ],
          diagnostics: [],
        };
    }
    const out = await provider.import(ctx, { externalId });
    const diagnostics = out.diagnostics.map((d) => toDiagnostic(d, res.block.shape));
    if (!out.id || !out.state) return { imported_resources: [], diagnostics };
    return {
      imported_resources: [
        {
          type_name: r.type_name,
          state: this.encode({ ...out.state, id: out.id }, res.block),
          private: Buffer.from(out.private ?? ''),
        },
      ],
      diagnostics,
    };
  }

  private async readDataSource(r: Record<string, unknown>) {
    const name = String(r.type_name);
    const block = this.dataSources.get(name);
    if (!block) return this.unknownType('data source', name);
    const config = this.decode(r.config, block) ?? {};
    this.set();
    const ctx = this.ctx(60_000);
    try {
      if (name === 'stratus_host') {
        const host = typeof config.host === 'string' ? config.host : this.host;
        const c = await this.pool!.client(host);
        const info = await c.get<ApiHostInfo>('/v1/host', { signal: ctx.signal });
        return { state: this.encode({ ...info, host }, block), diagnostics: [] };
      }
      const schema = this.types[this.byTfName.get(name)!]!;
      const c = await this.pool!.client(this.host);
      const list = await c.get<ApiList>(`/v1/${schema.collection}`, { signal: ctx.signal });
      const found = list.items.filter((i) => deepEqual(i.spec.name, config.name));
      if (found.length !== 1)
        return {
          diagnostics: [
            {
              ...error(
                found.length === 0
                  ? `No ${schema.type} named ${JSON.stringify(config.name)} on host ${this.host}`
                  : `${found.length} ${schema.type}s are named ${JSON.stringify(config.name)} on host ${this.host}; names must be unique to look one up`,
              ),
              attribute: { steps: [{ attribute_name: 'name' }] },
            },
          ],
        };
      const rec = found[0]!;
      return { state: this.encode({ ...rec.spec, ...rec.status, id: rec.id }, block), diagnostics: [] };
    } catch (e) {
      return { diagnostics: [toDiagnostic(errorDiagnostic(e))] };
    }
  }
}
