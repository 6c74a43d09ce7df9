import type { ResourceConfig, StackConfig } from './config.js';
import { Ref, type Value } from './expr.js';

/** The resource a whole-resource reference (`${x}` or `${x.id}`) of `type` names, if `v` is one. */
export function target(config: StackConfig, v: Value | undefined, type: string): ResourceConfig | undefined {
  if (!(v instanceof Ref)) return undefined;
  if (v.path.length > 1 || (v.path.length === 1 && v.path[0] !== 'id')) return undefined;
  const rc = config.resources.get(v.resource);
  return rc?.type === type ? rc : undefined;
}
