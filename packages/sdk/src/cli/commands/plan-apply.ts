import { resolve } from 'node:path';
import { formatDiagnostic } from '../../diagnostics/index.js';
import { hasChanges, type Plan } from '../../engine/plan.js';
import {
  type ApplyOutcome,
  applyOperation,
  applySavedOperation,
  type PlanOutcome,
  planOperation,
  StalePlanError,
  savePlan,
} from '../../operations/run.js';
import { readSavedPlan, writeSavedPlan } from '../../operations/saved-plan.js';
import type { StateDoc } from '../../state/types.js';
import { parseCommandArgs, UsageError } from '../args.js';
import { confirm, out, say } from '../io.js';
import { Progress } from '../progress.js';
import { planJson, renderPlan, styleFor } from '../render.js';
import { backendFor, loadChecked, localProviders, STATE_FLAGS } from '../session.js';

const FLAGS = {
  'detailed-exitcode': { type: 'boolean' },
  json: { type: 'boolean' },
  refresh: { type: 'string' },
  out: { type: 'string' },
  'auto-approve': { type: 'boolean' },
  parallelism: { type: 'string' },
  ...STATE_FLAGS,
  target: { type: 'string', multiple: true },
  replace: { type: 'string', multiple: true },
  destroy: { type: 'boolean' },
} as const;

type Flags = ReturnType<typeof parseCommandArgs>['values'];

function parallelismOf(v: Flags): number {
  const n = Number(v.parallelism ?? 10);
  if (!Number.isInteger(n) || n < 1) throw new UsageError('--parallelism must be a positive integer');
  return n;
}

function refreshOf(v: Flags): boolean {
  const f = (v.refresh as string | undefined) ?? 'true';
  if (f !== 'true' && f !== 'false') throw new UsageError('-refresh must be true or false');
  return f === 'true';
}

/** Prints what stopped a plan (refresh failures, plan errors). */
function reportErrors(o: PlanOutcome): boolean {
  const errs = o.diagnostics.filter((d) => d.severity === 'error');
  for (const d of errs) say(formatDiagnostic(d));
  return errs.length > 0;
}

function showPlan(plan: Plan): void {
  out.write(renderPlan(plan, styleFor(out)));
}

/** `stratus plan`: exit 0 (no changes), 2 (changes, with -detailed-exitcode) or 1 (errors). */
export async function cmdPlan(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseCommandArgs(argv, FLAGS);
  if (positionals.length > 1)
    throw new UsageError(`plan takes at most one stack path, got ${positionals.join(' ')}`);
  const refresh = refreshOf(v);
  const stack = await loadChecked(positionals[0]);
  const { providers, pool } = localProviders(say);
  try {
    const o = await planOperation({
      stack,
      backend: backendFor(stack.config, v),
      providers,
      refresh,
      targets: v.target as string[] | undefined,
      replace: v.replace as string[] | undefined,
      destroy: v.destroy === true,
    });
    if (v.json) out.write(`${JSON.stringify(planJson(o.plan), null, 2)}\n`);
    else showPlan(o.plan);
    if (reportErrors(o)) return 1;
    if (v.out) {
      await writeSavedPlan(resolve(v.out as string), await savePlan(stack, o));
      say(`Saved the plan to ${v.out}; apply exactly it with: stratus apply ${v.out}`);
    }
    return v['detailed-exitcode'] && hasChanges(o.plan) ? 2 : 0;
  } finally {
    await pool.close();
  }
}

/** Ctrl-C handling of an apply: once, start nothing new; twice, cancel what is in flight; thrice, exit. */
function interrupts() {
  let count = 0;
  const hard = new AbortController();
  const onSigint = () => {
    count++;
    if (count === 1)
      say(
        '\nInterrupt received: starting nothing new, letting running operations finish, then saving state. Interrupt again to stop at once.',
      );
    else if (count === 2) {
      say(
        'Second interrupt: cancelling the operations in flight. State is saved after every operation; one cut short is replaced by the next apply.',
      );
      hard.abort(new Error('interrupted'));
    } else process.exit(130);
  };
  process.on('SIGINT', onSigint);
  return {
    get count() {
      return count;
    },
    signal: hard.signal,
    dispose: () => process.off('SIGINT', onSigint),
  };
}

/** `stratus apply [STACK|PLANFILE]` and `stratus destroy [STACK]`. */
export async function cmdApply(cmd: 'apply' | 'destroy', argv: string[]): Promise<number> {
  const { values: v, positionals } = parseCommandArgs(argv, FLAGS);
  if (positionals.length > 1)
    throw new UsageError(`${cmd} takes at most one stack path, got ${positionals.join(' ')}`);
  const parallelism = parallelismOf(v);
  const refresh = refreshOf(v);
  const savedPath = cmd === 'apply' && positionals[0] ? positionals[0] : undefined;
  const saved = savedPath ? readSavedPlan(savedPath) : null;
  const st = styleFor(out);
  const progress = new Progress(out, st);
  const intr = interrupts();
  const { providers, pool } = localProviders(say);
  const common = {
    providers,
    parallelism,
    signal: intr.signal,
    onEvent: (e: Parameters<Progress['event']>[0]) => progress.event(e),
    shouldStart: () => intr.count === 0,
  };
  try {
    let outcome: Pick<ApplyOutcome, 'result' | 'plan'> & { refreshed?: ApplyOutcome['refreshed'] };
    if (saved) {
      // A saved plan was shown and approved when it was made.
      const stack = await loadChecked(saved.stackFile);
      showPlan(saved.plan);
      try {
        const result = await applySavedOperation({
          ...common,
          saved,
          path: savedPath!,
          backend: backendFor(stack.config, v),
        });
        outcome = { plan: saved.plan, result };
      } catch (e) {
        if (e instanceof StalePlanError) throw new UsageError(e.message);
        throw e;
      }
    } else {
      const stack = await loadChecked(positionals[0]);
      const o = await applyOperation({
        ...common,
        stack,
        backend: backendFor(stack.config, v),
        refresh,
        destroy: cmd === 'destroy',
        targets: v.target as string[] | undefined,
        replace: v.replace as string[] | undefined,
        onPlan: (p) => showPlan(p.plan),
        approve: () =>
          confirm(
            `\nDo you want to ${cmd === 'destroy' ? 'destroy all resources' : 'perform these actions'}?`,
            v['auto-approve'] === true,
          ),
      });
      if (reportErrors(o)) return 1;
      if (o.cancelled) {
        say('Cancelled.');
        return 1;
      }
      outcome = o;
    }
    const result = outcome.result;
    if (!result) {
      if (cmd === 'apply' && outcome.refreshed) printServers(outcome.refreshed.state);
      return 0;
    }
    progress.stop();
    const s = `Resources: ${result.added} added, ${result.changed} changed, ${result.destroyed} destroyed.`;
    if (!result.ok) {
      for (const e of result.errors)
        for (const d of e.diagnostics)
          say(st.red(`error: ${e.name}: ${d.field ? `${d.field}: ` : ''}${d.message}`));
      out.write(`\n${intr.count ? 'Apply interrupted' : 'Apply failed'}. ${s}\n`);
      return 1;
    }
    out.write(`\n${st.green(`${cmd === 'destroy' ? 'Destroy' : 'Apply'} complete! ${s}`)}\n`);
    printServers(result.state);
    const outs = Object.entries(result.state.outputs);
    if (outs.length) {
      out.write('\nOutputs:\n\n');
      for (const [k, o] of outs)
        out.write(`${k} = ${o.sensitive ? '(sensitive value)' : JSON.stringify(o.value)}\n`);
    }
    return 0;
  } finally {
    progress.stop();
    intr.dispose();
    await pool.close();
  }
}

/** Tells the user where each server is and how to read its console. */
function printServers(state: StateDoc): void {
  for (const r of state.resources) {
    if (r.type !== 'server' || r.status !== 'ready') continue;
    const a = r.attributes;
    const net = (a.addresses as { network?: string }[] | undefined)?.[0]?.network ?? '<network-id>';
    out.write(
      `\nServer ${r.name} is ${a.status ?? '?'} on ${a.hypervisor ?? '?'} at ${a.accessIpV4 ?? '(no address)'}.\n` +
        `  Console log:  tail -f ${a.consoleLog}\n` +
        `  Reach it from the network's DHCP namespace, e.g.: ip netns exec qdhcp-${net} curl http://${a.accessIpV4}/\n`,
    );
  }
}
