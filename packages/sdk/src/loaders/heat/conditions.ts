/**
 * The conditions section and condition functions (equals, not, and, or, a condition's name) as the
 * loader evaluates them.
 */
import { listNames } from '../../diagnostics/limits.js';
import type { Value } from '../../engine/expr.js';
import { isSymbolic } from '../../expand/evaluate.js';
import { HeatError, type TemplateScope } from './common.js';
import type { HeatLoader } from './load.js';
import { CONDITIONS_SINCE, versionName } from './versions.js';
import { isMap, isScalar } from './yaml-source.js';

/** The value of the named condition (evaluated once). */
export function condition(L: HeatLoader, scope: TemplateScope, name: string, from: unknown): boolean {
  const c = scope.conditions.get(name);
  if (!c)
    throw new HeatError(
      `unknown condition ${name}${scope.conditions.size ? ` (conditions: ${listNames([...scope.conditions.keys()])})` : ' (the template declares no conditions)'}`,
      from,
    );
  if (c.value !== undefined) return c.value;
  if (c.evaluating) throw new HeatError(`condition ${name} depends on itself`, from ?? c.node);
  c.evaluating = true;
  try {
    c.value = L.conditionValue(scope, c.node);
    return c.value;
  } finally {
    c.evaluating = false;
  }
}

/** A condition: a boolean, a condition's name, or a condition function (equals, not, and, or...). */
export function conditionValue(L: HeatLoader, scope: TemplateScope, node: unknown): boolean {
  const n = scope.src.deref(node);
  if (isScalar(n) && typeof n.value === 'string') return L.condition(scope, n.value, n);
  const v = L.ev(scope, n, {}, { condition: true });
  if (isSymbolic(v as Value))
    throw new HeatError('a condition must be known before apply: it may use parameters, not resources', n);
  if (typeof v !== 'boolean')
    throw new HeatError('a condition must be true or false (or a condition function)', n);
  return v;
}

/** A condition operand: a condition's name or a condition function (in `if`, `not`, `and`, `or`). */
export function bool(L: HeatLoader, scope: TemplateScope, node0: unknown, fn: string): boolean {
  const node = scope.src.deref(node0);
  if (isScalar(node) && typeof node.value === 'string') return L.condition(scope, node.value, node);
  if (isScalar(node) && typeof node.value === 'boolean') return node.value;
  const v = L.ev(scope, node, {}, { condition: true });
  if (isSymbolic(v as Value))
    throw new HeatError(`${fn}: the condition must be known before apply (parameters, not resources)`, node);
  if (typeof v !== 'boolean')
    throw new HeatError(`${fn}: a condition must be a condition name or a condition function`, node);
  return v;
}

/** The conditions section of a template: each condition declared and evaluated once (errors at its place). */
export function conditionsSection(L: HeatLoader, scope: TemplateScope): void {
  const { src, version } = scope;
  const root = src.root;
  const d = L.diags;
  const conds = src.get(root, 'conditions');
  if (conds !== undefined && conds !== null) {
    if (version < CONDITIONS_SINCE)
      d.error(
        `the conditions section needs heat_template_version ${versionName(CONDITIONS_SINCE)} or later`,
        'conditions',
        src.pos(src.keyNode(root, 'conditions')),
      );
    else if (!isMap(conds))
      d.error('must be a mapping of condition names to conditions', 'conditions', src.pos(conds));
    else for (const [name, , node] of src.pairs(conds)) scope.conditions.set(name, { node });
    for (const name of scope.conditions.keys()) {
      try {
        L.condition(scope, name, undefined);
      } catch (e) {
        L.report(e, scope, `conditions.${name}`);
      }
    }
  }
}
