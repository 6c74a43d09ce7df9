import { isAbsolute, resolve } from 'node:path';
import { attributes, type ResourceType, schemas, validateInputs } from '../model/index.js';
import { fromRawJson, type Value } from './expr.js';

/** A problem in one resource's properties, at a path inside them. */
export interface PropertyProblem {
  path: (string | number)[];
  message: string;
}

function isRefText(v: unknown): boolean {
  return typeof v === 'string' && v.includes('${');
}

function get(obj: unknown, path: readonly (string | number)[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

/**
 * Turns a resource's raw properties (plain JSON whose strings may hold `${...}`) into validated
 * properties: `name` defaults to the resource name, local paths are made absolute against `dir`,
 * schema defaults are filled in, and references are parsed. Schema errors on values that are
 * references are left to reference checking, since their type is known only later.
 */
export function normalizeProperties(
  type: ResourceType,
  name: string,
  raw: Record<string, unknown>,
  dir: string,
): { properties: Record<string, Value>; problems: PropertyProblem[] } {
  const props: Record<string, unknown> = structuredClone(raw);
  const attrs = attributes(schemas[type]);
  const problems: PropertyProblem[] = [];
  for (const a of attrs) {
    if (!a.input) {
      if (a.name in props)
        problems.push({ path: [a.name], message: 'is computed by Stratus and cannot be set' });
      continue;
    }
    if (a.name === 'name' && props.name === undefined) props.name = name;
    const v = props[a.name];
    if (a.localPath && typeof v === 'string' && !isRefText(v) && !isAbsolute(v))
      props[a.name] = resolve(dir, v);
  }
  for (const e of validateInputs(type, props)) {
    // The value at (or above) the error is a reference: its type is checked once it is resolved.
    const onRef = e.path.some((_, i) => isRefText(get(props, e.path.slice(0, i + 1))));
    if (!onRef && !problems.some((p) => p.path.join('.') === e.path.join('.'))) problems.push(e);
  }
  const properties = fromRawJson(props, (message, path) => problems.push({ path, message })) as Record<
    string,
    Value
  >;
  return { properties, problems };
}
