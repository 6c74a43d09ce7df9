/**
 * Heat environment files (`-e env.yaml`, https://docs.openstack.org/heat/latest/template_guide/environment.html):
 * `parameters` (values of the top-level template's parameters), `parameter_defaults` (defaults for
 * every template of the stack, nested ones too) and `resource_registry` (a type name mapped to another
 * type, or to a local template file that implements it: a provider template). Several files merge in
 * order, a later one winning. Paths in a registry are relative to the environment file that names them.
 */
import { isAbsolute, resolve } from 'node:path';
import type { Diagnostics, SourceRange } from '../../diagnostics/index.js';
import { isMap, YamlSource } from './yaml-source.js';

/** A value given in an environment file, with where. */
export interface EnvValue {
  value: unknown;
  range: SourceRange;
}

/** A resource_registry entry: a type or an absolute template path, with where it was written. */
export interface RegistryEntry {
  target: string;
  /** Whether `target` is a template file (absolute path) rather than a type name. */
  file: boolean;
  range: SourceRange;
}

/** The merged environment of a stack. */
export interface Environment {
  parameters: Map<string, EnvValue>;
  parameterDefaults: Map<string, EnvValue>;
  registry: Map<string, RegistryEntry>;
  /** Every environment file read, for saved plans' input hashes. */
  files: string[];
}

const ENV_KEYS = new Set([
  'parameters',
  'parameter_defaults',
  'resource_registry',
  'encrypted_param_names',
  'event_sinks',
  'parameter_merge_strategies',
]);

/** An empty environment. */
export const emptyEnvironment = (): Environment => ({
  parameters: new Map(),
  parameterDefaults: new Map(),
  registry: new Map(),
  files: [],
});

/** Whether a registry target names a template file rather than a type. */
export const isTemplateTarget = (t: string): boolean =>
  /\.(ya?ml|json|template)$/i.test(t) || t.startsWith('file://');

/** Reads environment files in order into one environment; every problem is reported with its place. */
export function readEnvironments(files: readonly string[], diags: Diagnostics): Environment {
  const env = emptyEnvironment();
  for (const f of files) {
    const file = resolve(f);
    env.files.push(file);
    const src = YamlSource.read(file, diags, 'environment file');
    if (!src) continue;
    const root = src.root;
    if (root === null || root === undefined) continue;
    if (!isMap(root)) {
      diags.error(
        'an environment file must be a mapping (parameters, parameter_defaults, resource_registry)',
        undefined,
        src.pos(root),
      );
      continue;
    }
    for (const [key, keyNode, value] of src.pairs(root)) {
      if (!ENV_KEYS.has(key)) {
        diags.error(`unknown key; expected one of ${[...ENV_KEYS].join(', ')}`, key, src.pos(keyNode));
        continue;
      }
      if (key === 'encrypted_param_names' || key === 'event_sinks') continue;
      if (key === 'parameter_merge_strategies') {
        diags.warning(
          'ignored: parameter values are not merged across environment files; a later file wins',
          key,
          src.pos(keyNode),
        );
        continue;
      }
      if (value === null || value === undefined) continue;
      if (!isMap(value)) {
        diags.error('must be a mapping', key, src.pos(keyNode));
        continue;
      }
      if (key === 'parameters' || key === 'parameter_defaults') {
        const target = key === 'parameters' ? env.parameters : env.parameterDefaults;
        for (const [name, nameNode, v] of src.pairs(value))
          target.set(name, { value: src.js(v) ?? null, range: src.pos(nameNode) });
        continue;
      }
      for (const [type, typeNode, v] of src.pairs(value)) {
        const at = src.pos(typeNode);
        if (type === 'resources') {
          diags.warning(
            'ignored: per-resource registry entries (resource_registry.resources) are not supported',
            `resource_registry.${type}`,
            at,
          );
          continue;
        }
        const t = src.js(v);
        if (typeof t !== 'string' || t === '') {
          diags.error('must be a resource type or a template file', `resource_registry.${type}`, at);
          continue;
        }
        if (type.includes('*')) {
          diags.error(
            'wildcard registry entries are not supported: map each type',
            `resource_registry.${type}`,
            at,
          );
          continue;
        }
        if (isTemplateTarget(t)) {
          if (/^[a-z][a-z0-9+.-]*:\/\//i.test(t) && !t.startsWith('file://')) {
            diags.error(
              'templates from URLs are not supported: give a local file',
              `resource_registry.${type}`,
              at,
            );
            continue;
          }
          const p = t.startsWith('file://') ? decodeURIComponent(t.slice(7)) : t;
          env.registry.set(type, {
            target: isAbsolute(p) ? p : resolve(file, '..', p),
            file: true,
            range: at,
          });
        } else env.registry.set(type, { target: t, file: false, range: at });
      }
    }
  }
  return env;
}
