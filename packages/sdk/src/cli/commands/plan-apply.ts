import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { AgentPool } from '../../client/pool.js';
import { formatDiagnostic } from '../../diagnostics/index.js';
import type { ApplyEvent } from '../../engine/apply.js';
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
import { CliError, usageError } from '../args.js';
import { confirm, out, redirectSay, say } from '../io.js';
import { JsonUi } from '../json-ui.js';
import { lockTimeoutOf, withLockTimeout } from '../lock.js';
import { log } from '../log.js';
import { Progress } from '../progress.js';
import type { Ctx } from '../registry.js';
import { renderPlan, styleFor } from '../render.js';
import { backendFor, loadChecked, localProviders, ownerOf } from '../session.js';
import { STRATUS_VERSION } from '../version.js';

function parallelismOf(ctx: Ctx): number {
  const n = Number(ctx.flags.parallelism ?? 10);
  if (!Number.isInteger(n) || n < 1) throw usageError(ctx.command, '-parallelism must be a positive integer');
  return n;
}

/**
 * The state backend with -lock-timeout applied, and whether to lock at all (-lock=false). With `pool`,
 * the pool's calls are marked as this state's (see {@link ownerOf}).
 */
function stateOf(ctx: Ctx, config: Parameters<typeof backendFor>[0], ui?: JsonUi, pool?: AgentPool) {
  const timeout = lockTimeoutOf(ctx.command, ctx.flags);
  const raw = backendFor(config, ctx.flags);
  if (pool) pool.owner = ownerOf(config, raw);
  const backend = withLockTimeout(raw, timeout, (m) => (ui ? ui.log(m) : say(m)));
  log.debug('state backend', {
    where: backend.where,
    lock: ctx.flags.lock !== false,
    lockTimeoutMs: timeout,
  });
  return { backend, lock: ctx.flags.lock !== false };
}

/** Prints what stopped a plan (refresh failures, plan errors). */
function reportErrors(o: PlanOutcome, ui?: JsonUi): boolean {
  const errs = o.diagnostics.filter((d) => d.severity === 'error');
  for (const d of errs) ui ? ui.diagnostic(d) : say(formatDiagnostic(d));
  return errs.length > 0;
}

function showPlan(plan: Plan): void {
  out.write(renderPlan(plan, styleFor(out)));
}

/** `stratus plan`: exit 0 (no changes), 2 (changes, with -detailed-exitcode) or 1 (errors). */
export async function cmdPlan(ctx: Ctx): Promise<number> {
  const v = ctx.flags;
  const ui = v.json ? jsonUi() : undefined;
  const stack = await loadChecked(ctx.stack, { flags: v });
  const { providers, pool } = localProviders(say);
  try {
    const started = Date.now();
    const o = await planOperation({
      stack,
      ...stateOf(ctx, stack.config, ui),
      providers,
      refresh: v.refresh !== false,
      targets: v.target as string[] | undefined,
      replace: v.replace as string[] | undefined,
      destroy: v.destroy === true,
      log: log.protocol(),
    });
    log.debug('plan made', { ms: Date.now() - started, changes: o.plan.changes.length });
    if (ui) ui.plan(o.plan, 'plan');
    else showPlan(o.plan);
    if (reportErrors(o, ui)) return 1;
    if (v.out) {
      await writeSavedPlan(resolve(v.out as string), await savePlan(stack, o));
      say(`Saved the plan to ${v.out}; apply exactly it with: stratus apply ${v.out}`);
    }
    return v['detailed-exitcode'] && hasChanges(o.plan) ? 2 : 0;
  } finally {
    ui?.stop();
    await pool.close();
  }
}

/** The -json UI on stdout, with `say` messages as its `log` lines; starts with the `version` line. */
function jsonUi(): JsonUi {
  const ui = new JsonUi((l) => out.write(l));
  redirectSay((m) => ui.log(m));
  ui.version(STRATUS_VERSION);
  return ui;
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
export async function cmdApply(ctx: Ctx): Promise<number> {
  const v = ctx.flags;
  const cmd = ctx.command === 'destroy' || v.destroy === true ? 'destroy' : 'apply';
  const parallelism = parallelismOf(ctx);
  const savedPath = ctx.command === 'apply' && ctx.stack ? ctx.stack : undefined;
  const saved =
    savedPath && existsSync(savedPath) && statSync(savedPath).isFile() ? readSavedPlan(savedPath) : null;
  if (v.json && !saved && v['auto-approve'] !== true)
    throw usageError(
      ctx.command,
      '-json needs -auto-approve (or a saved plan): the machine-readable UI cannot ask for approval',
    );
  const ui = v.json ? jsonUi() : undefined;
  const st = styleFor(out);
  const progress = ui ? undefined : new Progress(out, st);
  const intr = interrupts();
  const { providers, pool } = localProviders(say);
  const common = {
    providers,
    parallelism,
    signal: intr.signal,
    onEvent: (e: ApplyEvent) => (ui ? ui.event(e) : progress!.event(e)),
    shouldStart: () => intr.count === 0,
    log: log.protocol(),
  };
  try {
    let outcome: Pick<ApplyOutcome, 'result' | 'plan'> & { refreshed?: ApplyOutcome['refreshed'] };
    if (saved) {
      // A saved plan was shown and approved when it was made.
      const stack = await loadChecked(saved.stackFile);
      if (ui) ui.plan(saved.plan, 'apply');
      else showPlan(saved.plan);
      try {
        const result = await applySavedOperation({
          ...common,
          ...stateOf(ctx, stack.config, ui, pool),
          saved,
          path: savedPath!,
        });
        outcome = { plan: saved.plan, result };
      } catch (e) {
        if (e instanceof StalePlanError) throw new CliError(e.message);
        throw e;
      }
    } else {
      const stack = await loadChecked(ctx.stack, { flags: v });
      const o = await applyOperation({
        ...common,
        stack,
        ...stateOf(ctx, stack.config, ui, pool),
        refresh: v.refresh !== false,
        destroy: cmd === 'destroy',
        targets: v.target as string[] | undefined,
        replace: v.replace as string[] | undefined,
        onPlan: (p) => (ui ? ui.plan(p.plan, cmd) : showPlan(p.plan)),
        approve: () =>
          confirm(
            `\nDo you want to ${cmd === 'destroy' ? 'destroy all resources' : 'perform these actions'}?`,
            v['auto-approve'] === true,
          ),
      });
      if (reportErrors(o, ui)) return 1;
      if (o.cancelled) {
        say('Cancelled.');
        return 1;
      }
      outcome = o;
    }
    const result = outcome.result;
    if (!result) {
      if (ui) {
        ui.summary({ add: 0, change: 0, destroy: 0 }, cmd);
        if (outcome.refreshed) ui.outputs(outcome.refreshed.state.outputs);
      } else if (cmd === 'apply' && outcome.refreshed) printServers(outcome.refreshed.state);
      return 0;
    }
    progress?.stop();
    if (ui) {
      for (const e of result.errors)
        for (const d of e.diagnostics) ui.diagnostic({ ...d, message: `${e.name}: ${d.message}` });
      if (result.ok) {
        ui.summary({ add: result.added, change: result.changed, destroy: result.destroyed }, cmd);
        ui.outputs(result.state.outputs);
      }
      return result.ok ? 0 : 1;
    }
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
    progress?.stop();
    ui?.stop();
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
        `  Reach it from the network's DHCP namespace (if its security groups admit it), e.g.: ip netns exec qdhcp-${net} curl http://${a.accessIpV4}/\n`,
    );
  }
}
