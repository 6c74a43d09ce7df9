/**
 * A template's outputs section, and the root template's outputs as the stack's.
 */
import type { OutputConfig } from '../../engine/config.js';
import type { Value } from '../../engine/expr.js';
import type { Taint } from '../../expand/evaluate.js';
import { REMOVED, type TemplateScope } from './common.js';
import type { HeatLoader } from './load.js';
import { isMap } from './yaml-source.js';

/**
 * The outputs section of a template: each output's value (and description), evaluated; an output whose
 * condition is false is null.
 */
export function outputsSection(L: HeatLoader, scope: TemplateScope): void {
  const { src } = scope;
  const root = src.root;
  const d = L.diags;
  const outs = src.get(root, 'outputs');
  if (outs !== undefined && outs !== null && !isMap(outs))
    d.error('must be a mapping', 'outputs', src.pos(outs));
  else if (isMap(outs)) {
    for (const [name, kn, node] of src.pairs(outs)) {
      const field = `outputs.${name}`;
      if (!isMap(node)) {
        d.error('an output must be a mapping with value (and description, condition)', field, src.pos(kn));
        continue;
      }
      const entry: { node: unknown; value?: Value; taint?: Taint; description?: string } = { node };
      scope.outputs.set(name, entry);
      for (const [k, kk] of src.pairs(node))
        if (k !== 'value' && k !== 'description' && k !== 'condition')
          d.error('unknown key; expected value, description, condition', `${field}.${k}`, src.pos(kk));
      const desc = src.js(src.get(node, 'description'));
      if (typeof desc === 'string') entry.description = desc;
      try {
        const cn = src.get(node, 'condition');
        if (cn !== undefined && !L.conditionValue(scope, cn)) {
          entry.value = null;
          continue;
        }
        if (!node.has('value')) {
          d.error('is required', `${field}.value`, src.pos(kn));
          continue;
        }
        const taint: Taint = {};
        const v = L.ev(scope, src.get(node, 'value'), taint, {});
        entry.value = v === REMOVED ? null : v;
        entry.taint = taint;
      } catch (e) {
        L.report(e, scope, `${field}.value`);
      }
    }
  }
}

/** The root template's outputs as the stack's outputs. */
export function stackOutputs(L: HeatLoader, root: TemplateScope): void {
  for (const [name, o] of root.outputs) {
    const v = o.value;
    if (v === undefined) continue;
    const taint = o.taint ?? {};
    const oc: OutputConfig = {
      name,
      value: v,
      // Heat has no output sensitivity: an output made from a hidden parameter or random string is redacted.
      sensitive: Boolean(taint.sensitive),
      description: o.description,
      locate: () => root.src.locate(root.src.get(root.src.root, 'outputs'), [name]),
    };
    L.config.outputs.set(name, oc);
  }
}
