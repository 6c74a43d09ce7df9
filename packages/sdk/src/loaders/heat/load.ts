/**
 * The HOT loader: a Heat Orchestration Template (with its environment files and `-P` values) in, the
 * same StackConfig a stack file gives out, so `stratus plan template.yaml -e env.yaml` plans and
 * applies it with the one engine. Heat's resource types map onto Stratus types through the table in
 * types.ts; Heat's own types (Value, RandomString, CloudConfig, SoftwareConfig, MultipartMime, None)
 * are computed by the loader (heat-resources.ts); a ResourceGroup becomes instances `group[0]`, `group[1]`... as `count` makes; a
 * provider template (a type mapped to a local file by the environment's resource_registry, or a file
 * as the type) becomes its resources named `parent-child`. Intrinsic functions run here on what is
 * known at load, and on values known only after apply they stay calls the engine makes then
 * (engine/heat-functions.ts), as stack-file functions do. Every problem is a diagnostic at its
 * file:line:column; what Stratus does not do (yaql, software deployments, update_policy...) is named.
 */
import { basename, dirname, join, resolve } from 'node:path';
import type { ResourceType } from '@stratus/model';
import { Diagnostics } from '../../diagnostics/index.js';
import type { ResourceConfig, StackConfig } from '../../engine/config.js';
import { type Decl, type Dep, type Given, HeatError, Reported, TemplateScope } from './common.js';
import * as conditions from './conditions.js';
import { type Environment, emptyEnvironment, readEnvironments } from './environment.js';
import type { ExistingObjects } from './existing.js';
import * as functions from './functions.js';
import * as groups from './groups.js';
import * as heat_resources from './heat-resources.js';
import * as outputs from './outputs.js';
import * as resources from './resources.js';
import * as template_parameters from './template-parameters.js';
import { VERSIONS, versionIndex } from './versions.js';
import { isMap, YamlSource } from './yaml-source.js';

/** Options of {@link loadHeatFile}. */
export interface HeatLoadOptions {
  /** Environment files (`-e`), in order; a later one wins. */
  environments?: readonly string[];
  /** Parameter values given as text (`-P NAME=VALUE`), winning over environment files. */
  parameters?: ReadonlyMap<string, string>;
  /** A parameter without a value is no error: what needs it is left out (commands that only read state). */
  lenient?: boolean;
  /**
   * The stack's random seed (64 hex digits; StateDoc.randomSeed) that OS::Heat::RandomString values
   * derive from; without it a fresh one is made (and named in the config's randomSeed).
   */
  randomSeed?: string;
  /**
   * The objects outside the template that names may resolve to (the agents' records, less the stack's
   * own), by type: see existing.ts. Types left out were not listed: a name of such a type that no
   * resource of the template has is an error saying so, and the type is in the result's `lookups`.
   */
  existing?: ExistingObjects;
}

/** Result of loading a template: the config when it could be made, and every diagnostic. */
export interface HeatLoadResult {
  config?: StackConfig;
  diagnostics: Diagnostics;
  /**
   * The types of which a name (a property or a custom-constrained parameter) matched no resource of the
   * template and whose existing objects were not given: list them (`existing`) and load again.
   */
  lookups: ResourceType[];
}

export { isHeatTemplateFile, isHeatTemplateText } from './detect.js';

const TOP_KEYS = new Set([
  'heat_template_version',
  'description',
  'parameter_groups',
  'parameters',
  'resources',
  'outputs',
  'conditions',
]);
/** Loads a HOT template file with its environment files and parameter values. */
export function loadHeatFile(path: string, opts: HeatLoadOptions = {}): HeatLoadResult {
  const file = resolve(path);
  const diags = new Diagnostics();
  const src = YamlSource.read(file, diags, 'template');
  if (!src) return { diagnostics: diags, lookups: [] };
  return new HeatLoader(diags, opts).load(src);
}

/** Like {@link loadHeatFile}, from text already read; `file` names it (and its directory, relative paths). */
export function loadHeatText(text: string, file: string, opts: HeatLoadOptions = {}): HeatLoadResult {
  const diags = new Diagnostics();
  const src = YamlSource.parse(text, resolve(file), diags);
  if (!src) return { diagnostics: diags, lookups: [] };
  return new HeatLoader(diags, opts).load(src);
}

export class HeatLoader {
  env: Environment = emptyEnvironment();
  config!: StackConfig;
  /** Every native resource made, with its scope and declared dependencies, to resolve depends_on at the end. */
  made: { rc: ResourceConfig; deps: Dep[] }[] = [];
  /** Stratus names of the native resources each declaration made (groups and nested stacks: all of theirs). */
  members = new Map<Decl, string[]>();
  scopes: TemplateScope[] = [];
  inputs = new Set<string>();
  seed?: Buffer;
  /** Provider templates read so far, by path (undefined: unreadable, already reported). */
  files = new Map<string, YamlSource | undefined>();
  /** Nodes evaluated so far, and the current nesting, against alias bombs and recursive aliases. */
  visits = 0;
  evDepth = 0;
  /** Types of which a name was to be looked up outside the template, but their objects were not given. */
  lookups = new Set<ResourceType>();

  constructor(
    readonly diags: Diagnostics,
    readonly opts: HeatLoadOptions,
  ) {}

  load(src: YamlSource): HeatLoadResult {
    const file = src.file;
    this.inputs.add(file);
    this.env = readEnvironments(this.opts.environments ?? [], this.diags);
    for (const f of this.env.files) this.inputs.add(f);
    const dir = dirname(file);
    const name =
      basename(file)
        .replace(/\.(ya?ml|json|template)$/i, '')
        .replace(/[^A-Za-z0-9_-]/g, '-') || 'heat';
    this.config = {
      name,
      file,
      dir,
      resources: new Map(),
      invalid: new Set(),
      outputs: new Map(),
      // Several templates often share a directory (a stack and its provider templates): each its own state.
      backend: { type: 'local', path: join(dir, `${name}.stratus.state.json`) },
    };
    const root = this.template(src, '', 0, undefined);
    const lookups = () => [...this.lookups].sort();
    if (!root) return { diagnostics: this.diags, lookups: lookups() };
    this.checkCustomConstraints(root);
    // The stack's own parameters (a stack update gives these): their digests go to state, and a change
    // of an immutable one is refused at plan (engine/parameters.ts).
    this.config.parameters = [...root.params.values()].map((p) => ({
      name: p.name,
      value: p.value,
      immutable: p.immutable,
      hidden: p.hidden,
      at: p.valueAt ?? src.pos(p.node),
    }));
    this.resolveDependencies();
    this.stackOutputs(root);
    this.config.inputs = [...this.inputs];
    return { config: this.config, diagnostics: this.diags, lookups: lookups() };
  }

  // ---------------------------------------------------------------- templates

  /**
   * Loads one template: checks its sections, gives its parameters their values (`given`, for a nested
   * template: its parent's properties), declares and realizes its resources, evaluates its outputs.
   */
  template(
    src: YamlSource,
    prefix: string,
    depth: number,
    given: Given | undefined,
  ): TemplateScope | undefined {
    const root = src.root;
    const d = this.diags;
    if (!isMap(root)) {
      d.error('a Heat template must be a mapping with heat_template_version', undefined, src.pos(root));
      return undefined;
    }
    const vnode = src.get(root, 'heat_template_version');
    const vtext = src.js(vnode);
    const version = versionIndex(vtext);
    if (version < 0) {
      d.error(
        `unknown heat_template_version ${JSON.stringify(vtext)}; expected one of ${VERSIONS.map((v) => v.date).join(', ')} or a release name (${VERSIONS.filter(
          (v) => v.name,
        )
          .map((v) => v.name)
          .join(', ')})`,
        'heat_template_version',
        src.pos(vnode ?? root),
      );
      return undefined;
    }
    const scope = new TemplateScope(src, version, prefix, depth);
    this.scopes.push(scope);
    for (const [k, kn] of src.pairs(root))
      if (!TOP_KEYS.has(k))
        d.error(`unknown section; expected one of ${[...TOP_KEYS].join(', ')}`, k, src.pos(kn));

    this.parameters(scope, given);
    this.parameterGroups(scope);
    this.conditionsSection(scope);

    const res = src.get(root, 'resources');
    if (res !== undefined && res !== null && !isMap(res))
      d.error('must be a mapping of resource names to resources', 'resources', src.pos(res));
    else if (isMap(res)) for (const [name, kn, node] of src.pairs(res)) this.declare(scope, name, kn, node);

    for (const decl of scope.decls.values()) this.realize(scope, decl);

    this.outputsSection(scope);
    return scope;
  }

  /** Reports an error thrown while evaluating (Reported ones were reported already). */
  report(e: unknown, scope: TemplateScope, field: string): void {
    if (e instanceof HeatError) this.diags.error(e.message, field, scope.src.pos(e.node));
    else if (!(e instanceof Reported)) throw e;
  }

  // ---------------------------------------------------------------- parameters

  readonly parameters = bound(this, template_parameters.parameters);

  readonly unknownInputs = bound(this, template_parameters.unknownInputs);

  readonly posOf = bound(this, template_parameters.posOf);

  readonly parameterGroups = bound(this, template_parameters.parameterGroups);

  // ---------------------------------------------------------------- conditions

  readonly conditionsSection = bound(this, conditions.conditionsSection);
  readonly outputsSection = bound(this, outputs.outputsSection);
  readonly stackOutputs = bound(this, outputs.stackOutputs);
  readonly condition = bound(this, conditions.condition);

  readonly conditionValue = bound(this, conditions.conditionValue);

  // ---------------------------------------------------------------- resources

  readonly resolveType = bound(this, resources.resolveType);

  readonly declare = bound(this, resources.declare);

  readonly realize = bound(this, resources.realize);

  readonly properties = bound(this, resources.properties);

  readonly nativeResource = bound(this, resources.nativeResource);
  readonly extraResource = bound(this, resources.extraResource);

  readonly retained = bound(this, resources.retained);

  readonly retain = bound(this, resources.retain);

  readonly dependsOn = bound(this, resources.dependsOn);

  readonly resolveDependencies = bound(this, resources.resolveDependencies);

  readonly nativeUnder = bound(this, resources.nativeUnder);

  readonly lookup = bound(this, resources.lookup);

  readonly byName = bound(this, resources.byName);

  readonly outside = bound(this, resources.outside);

  readonly serverOfPort = bound(this, resources.serverOfPort);

  readonly networkNames = bound(this, resources.networkNames);

  readonly checkCustomConstraints = bound(this, template_parameters.checkCustomConstraints);

  // ---------------------------------------------------------------- Heat's own types

  readonly heatResource = bound(this, heat_resources.heatResource);

  readonly randomString = bound(this, heat_resources.randomString);

  readonly seedFor = bound(this, heat_resources.seedFor);

  // ---------------------------------------------------------------- groups and nested stacks

  readonly group = bound(this, groups.group);

  readonly nested = bound(this, groups.nested);

  // ---------------------------------------------------------------- attributes

  readonly nativeAttr = bound(this, resources.nativeAttr);

  // ---------------------------------------------------------------- intrinsic functions

  readonly fn = bound(this, functions.fn);

  readonly ev = bound(this, functions.ev);

  readonly evNode = bound(this, functions.evNode);

  readonly call = bound(this, functions.call);

  readonly bool = bound(this, conditions.bool);

  readonly resourceId = bound(this, functions.resourceId);

  readonly attr = bound(this, functions.attr);

  readonly declOf = bound(this, functions.declOf);

  readonly declValue = bound(this, functions.declValue);
}

/** A part's function (taking the loader first) as a method of this loader. */
function bound<A extends unknown[], R>(l: HeatLoader, f: (l: HeatLoader, ...a: A) => R): (...a: A) => R {
  return (...a) => f(l, ...a);
}
