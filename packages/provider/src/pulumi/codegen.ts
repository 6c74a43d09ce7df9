/**
 * The TypeScript SDK of the Stratus Pulumi package, written from its package schema (schema.ts: the
 * schema GetSchema serves) the way Pulumi's own Node.js code generator shapes SDKs: per resource a
 * `pulumi.CustomResource` class (`new stratus.Server("web", {...})`) with an `Args` interface of
 * `pulumi.Input` properties, `pulumi.Output` properties for every attribute, secrets wrapped with
 * `pulumi.secret` and listed in `additionalSecretOutputs`, `replaceOnChanges` from the schema; per
 * object type an `Args` (input) and a plain (output) interface; and the `Provider` resource with the
 * package's configuration. Run at build time by scripts/pulumi-sdk.ts; nothing here knows a type.
 */
import type { PulumiPackageSchema, PulumiProperty, PulumiType } from './schema.js';

const doc = (text: string | undefined, indent = ''): string[] =>
  text ? [`${indent}/** ${text.replace(/\*\//g, '*\\/').replace(/\n/g, ' ')} */`] : [];

/** `stratus:index:ServerNetwork` -> `ServerNetwork`. */
const typeName = (token: string) => token.split(':')[2] ?? token;

/** A property name as a TypeScript key (quoted when not an identifier). */
const key = (k: string) => (/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k));

/** The TypeScript type of a schema type: plain (`output`: what state holds) or as `pulumi.Input`s. */
function tsType(t: PulumiType, input: boolean): string {
  const wrap = (s: string) => (input ? `pulumi.Input<${s}>` : s);
  if (t.$ref) return wrap(`${typeName(t.$ref.replace('#/types/', ''))}${input ? 'Args' : ''}`);
  switch (t.type) {
    case 'integer':
    case 'number':
      return wrap('number');
    case 'boolean':
      return wrap('boolean');
    case 'array':
      return wrap(`${tsType(t.items ?? { type: 'string' }, input)}[]`);
    case 'object':
      return wrap(`{ [key: string]: ${tsType(t.additionalProperties ?? { type: 'string' }, input)} }`);
    default:
      return wrap('string');
  }
}

function objectInterfaces(
  name: string,
  props: Record<string, PulumiProperty>,
  required: string[],
  description?: string,
): string[] {
  const out: string[] = [];
  for (const input of [true, false]) {
    out.push(...doc(description), `export interface ${name}${input ? 'Args' : ''} {`);
    for (const [k, p] of Object.entries(props)) {
      out.push(
        ...doc(p.description, '  '),
        `  ${key(k)}${required.includes(k) ? '' : '?'}: ${tsType(p, input)};`,
      );
    }
    out.push('}', '');
  }
  return out;
}

/** The SDK module (one file) for `schema`. */
export function generateNodejsSdk(schema: PulumiPackageSchema): string {
  const out: string[] = [
    `// Generated from the Pulumi package schema of ${schema.name} ${schema.version} by packages/provider/scripts/pulumi-sdk.ts; do not edit (not committed).`,
    "import * as pulumi from '@pulumi/pulumi';",
    '',
    `/** The version of the ${schema.name} plugin these classes ask the engine for. */`,
    `export const PLUGIN_VERSION = ${JSON.stringify(schema.version)};`,
    '',
    "/** Options with this package's plugin version, as generated Pulumi SDKs set it. */",
    'function withVersion<T extends pulumi.ResourceOptions>(opts: T | undefined): T {',
    '  return pulumi.mergeOptions({ version: PLUGIN_VERSION }, opts ?? {}) as T;',
    '}',
    '',
  ];
  for (const [token, t] of Object.entries(schema.types))
    out.push(...objectInterfaces(typeName(token), t.properties, t.required ?? [], t.description));

  for (const [token, r] of Object.entries(schema.resources)) {
    const cls = typeName(token);
    // Args: the inputs, as pulumi.Inputs; required exactly where the schema requires them.
    out.push(`/** The arguments of a {@link ${cls}}. */`, `export interface ${cls}Args {`);
    for (const [k, p] of Object.entries(r.inputProperties))
      out.push(
        ...doc(p.description, '  '),
        `  ${key(k)}${r.requiredInputs.includes(k) ? '' : '?'}: ${tsType(p, true)};`,
      );
    out.push('}', '');
    const secrets = Object.entries(r.properties)
      .filter(([, p]) => p.secret)
      .map(([k]) => k);
    const replaces = Object.entries(r.inputProperties)
      .filter(([, p]) => p.replaceOnChanges)
      .map(([k]) => k);
    out.push(
      ...doc(`${r.description} (\`${token}\`)`),
      `export class ${cls} extends pulumi.CustomResource {`,
      `  /** The Pulumi type token. */`,
      `  static readonly __pulumiType = ${JSON.stringify(token)};`,
      '',
      `  /** An existing ${cls}'s state, looked up by its Stratus id. */`,
      `  static get(name: string, id: pulumi.Input<pulumi.ID>, opts?: pulumi.CustomResourceOptions): ${cls} {`,
      `    return new ${cls}(name, undefined as unknown as ${cls}Args, { ...opts, id });`,
      '  }',
      '',
      `  /** Whether \`obj\` is a ${cls} (also one made by another copy of this SDK). */`,
      `  static override isInstance(obj: unknown): obj is ${cls} {`,
      '    return (',
      '      obj !== undefined && obj !== null && (obj as { __pulumiType?: string }).__pulumiType === ' +
        `${cls}.__pulumiType`,
      '    );',
      '  }',
      '',
    );
    for (const [k, p] of Object.entries(r.properties)) {
      const req = r.required.includes(k);
      out.push(
        ...doc(p.description, '  '),
        `  declare readonly ${key(k)}: pulumi.Output<${tsType(p, false)}${req ? '' : ' | undefined'}>;`,
      );
    }
    out.push(
      '',
      `  constructor(name: string, args: ${cls}Args, opts?: pulumi.CustomResourceOptions) {`,
      '    const inputs: pulumi.Inputs = {};',
      '    if (!opts?.id) {',
    );
    for (const k of r.requiredInputs)
      out.push(`    if (args?.${k} === undefined) throw new Error("Missing required property '${k}'");`);
    for (const [k, p] of Object.entries(r.inputProperties))
      out.push(
        p.secret
          ? `      inputs[${JSON.stringify(k)}] = args?.${k} === undefined ? undefined : pulumi.secret(args.${k});`
          : `      inputs[${JSON.stringify(k)}] = args?.${k};`,
      );
    for (const k of Object.keys(r.properties))
      if (!(k in r.inputProperties)) out.push(`      inputs[${JSON.stringify(k)}] = undefined;`);
    out.push('    } else {');
    for (const k of Object.keys(r.properties)) out.push(`      inputs[${JSON.stringify(k)}] = undefined;`);
    out.push(
      '    }',
      `    const derived: pulumi.CustomResourceOptions = {${secrets.length ? ` additionalSecretOutputs: ${JSON.stringify(secrets)},` : ''}${replaces.length ? ` replaceOnChanges: ${JSON.stringify(replaces)},` : ''} };`,
      `    super(${cls}.__pulumiType, name, inputs, withVersion(pulumi.mergeOptions(derived, opts ?? {})));`,
      '  }',
      '}',
      '',
    );
  }

  // The provider resource: an explicit provider (another agent, another host) for resources' `provider` option.
  const cfg = schema.provider.inputProperties;
  out.push('/** The arguments of a {@link Provider}. */', 'export interface ProviderArgs {');
  for (const [k, p] of Object.entries(cfg))
    out.push(...doc(p.description, '  '), `  ${key(k)}?: ${tsType(p, true)};`);
  out.push(
    '}',
    '',
    ...doc(`${schema.provider.description} Pass it as a resource's \`provider\` option.`),
    'export class Provider extends pulumi.ProviderResource {',
    `  /** The Pulumi type token of the provider. */`,
    `  static readonly __pulumiType = ${JSON.stringify(schema.name)};`,
    '',
    '  constructor(name: string, args?: ProviderArgs, opts?: pulumi.ResourceOptions) {',
    '    const inputs: pulumi.Inputs = {};',
  );
  for (const [k, p] of Object.entries(cfg))
    out.push(
      p.secret
        ? `    inputs[${JSON.stringify(k)}] = args?.${k} === undefined ? undefined : pulumi.secret(args.${k});`
        : `    inputs[${JSON.stringify(k)}] = args?.${k};`,
    );
  out.push(`    super(Provider.__pulumiType, name, inputs, withVersion(opts));`, '  }', '}', '');
  return out.join('\n');
}
