/**
 * Validation of a saved plan file (`stratus plan -out FILE`) when it is read back: a damaged or
 * hand-edited file is refused with every problem, instead of apply acting on a half-read plan.
 */
import { resourceTypes } from '@stratus/model';
import { parameterDigestsProblems, stateDocProblems } from './check.js';
import { ShapeProblems } from './shape.js';
import { StateError } from './types.js';

const ACTIONS = ['create', 'update', 'replace', 'delete', 'no-op'] as const;

/**
 * Checks the parsed content of the saved plan file at `path` (after the unknown-value tags are revived,
 * or before: both are objects) and returns it unchanged; throws a StateError (`corrupt`) naming the file,
 * every problem (at most 10 listed, with a count) and what to do: make the plan again.
 */
export function validateSavedPlanFile(json: unknown, path: string): unknown {
  const p = new ShapeProblems();
  const doc = p.object(json, '');
  if (doc) {
    if (doc.format !== 'stratus-plan') p.add('format', 'must be "stratus-plan"');
    if (doc.version !== 2)
      p.add('version', 'must be 2 (a plan saved by another Stratus version: make it again)');
    p.string(doc.stackFile, 'stackFile', { nonEmpty: true });
    const inputs = p.object(doc.inputs, 'inputs');
    for (const [file, sum] of Object.entries(inputs ?? {}))
      if (typeof sum !== 'string' || !/^[0-9a-f]{64}$/.test(sum))
        p.add(`inputs.${file}`, 'must be a SHA-256 in hex');
    const plan = p.object(doc.plan, 'plan');
    if (plan) {
      p.integer(plan.formatVersion, 'plan.formatVersion', { min: 1 });
      p.string(plan.stack, 'plan.stack');
      p.string(plan.lineage, 'plan.lineage', { nullable: true });
      if (
        plan.randomSeed !== undefined &&
        (typeof plan.randomSeed !== 'string' || !/^[0-9a-f]{64}$/.test(plan.randomSeed))
      )
        p.add('plan.randomSeed', 'must be 64 hex digits');
      if (plan.parameters !== undefined) parameterDigestsProblems(plan.parameters, p, 'plan.parameters');
      p.integer(plan.serial, 'plan.serial', { nullable: true });
      p.array(plan.changes, 'plan.changes')?.forEach((c, i) => {
        const at = `plan.changes[${i}]`;
        const o = p.object(c, at);
        if (!o) return;
        p.string(o.name, `${at}.name`, { nonEmpty: true });
        p.oneOf(o.type, `${at}.type`, resourceTypes);
        p.oneOf(o.action, `${at}.action`, ACTIONS);
        p.string(o.host, `${at}.host`, { nonEmpty: true });
        p.stringList(o.dependencies, `${at}.dependencies`);
        const t = p.object(o.timeouts, `${at}.timeouts`);
        for (const k of ['create', 'update', 'delete'] as const)
          if (t) p.integer(t[k], `${at}.timeouts.${k}`, { min: 1 });
        if (o.priorId !== undefined) p.string(o.priorId, `${at}.priorId`);
        if (o.before !== null) p.object(o.before, `${at}.before`);
        if (o.after !== null) p.object(o.after, `${at}.after`);
        p.array(o.changes, `${at}.changes`)?.forEach((x, j) => {
          const xo = p.object(x, `${at}.changes[${j}]`);
          if (!xo) return;
          p.string(xo.name, `${at}.changes[${j}].name`, { nonEmpty: true });
          p.boolean(xo.forcesReplace, `${at}.changes[${j}].forcesReplace`);
          p.boolean(xo.sensitive, `${at}.changes[${j}].sensitive`);
        });
      });
      const outputs = p.object(plan.outputs, 'plan.outputs');
      for (const [k, v] of Object.entries(outputs ?? {})) {
        const o = p.object(v, `plan.outputs.${k}`);
        if (o) p.boolean(o.sensitive, `plan.outputs.${k}.sensitive`);
      }
      p.array(plan.errors, 'plan.errors')?.forEach((e, i) => {
        const o = p.object(e, `plan.errors[${i}]`);
        if (o) p.string(o.message, `plan.errors[${i}].message`);
      });
      if (plan.targets !== undefined) p.stringList(plan.targets, 'plan.targets');
    }
    stateDocProblems(doc.refreshedState, p, 'refreshedState');
  }
  if (p.items.length === 0) return json;
  throw new StateError(
    'corrupt',
    `saved plan ${path} is damaged or not a Stratus plan; nothing was changed:\n${p.text()}\nMake the plan again with: stratus plan -out ${path}`,
  );
}
