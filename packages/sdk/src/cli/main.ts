#!/usr/bin/env node
import { createInterface } from 'node:readline/promises';
import { AgentApiError } from '../client/errors.js';
import { DiagnosticsError, formatDiagnostic } from '../diagnostics/index.js';
import { type ApplyEvent, applyPlan } from '../engine/apply.js';
import type { StackConfig } from '../engine/config.js';
import { Graph } from '../engine/graph.js';
import { emptyState, hasChanges, makePlan, refresh, unrefreshed } from '../engine/plan.js';
import { agentHandlers } from '../handlers/index.js';
import { StateError } from '../state/types.js';
import { parseCommandArgs, UsageError } from './args.js';
import { planJson, redact, renderPlan, renderState, styleFor } from './render.js';
import { backendFor, loadChecked, localContext } from './session.js';

const USAGE = `Usage: stratus <command> [options] [STACK]

STACK is a stack file, or a directory holding stack.yaml (default: ./stack.yaml).

Commands:
  validate                 Check a stack file; no host is touched.
  plan                     Show what apply would change.
      -detailed-exitcode   Exit 0 for no changes, 2 for changes, 1 for errors.
      -refresh=false       Do not read live state from the agents first.
      --json               Print the plan as JSON (Terraform's plan shape).
  apply                    Make the infrastructure match the stack.
      --auto-approve       Do not ask for confirmation.
      --parallelism N      Operations at once (default 10).
  destroy                  Destroy everything in the stack's state.
      --auto-approve       Do not ask for confirmation.
  show [--json]            Show the resources in state (sensitive values redacted).
  output [NAME] [--json]   Show output values.

Common options:
  --state PATH             State file (default: stratus.state.json beside the stack file).
`;

const out = process.stdout;
const err = process.stderr;
const say = (m: string) => err.write(`${m}\n`);

async function confirm(question: string, autoApprove: boolean): Promise<boolean> {
  if (autoApprove) return true;
  if (!process.stdin.isTTY)
    throw new UsageError('not running interactively: pass --auto-approve to apply without confirmation');
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const answer = await rl.question(
    `${question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: `,
  );
  rl.close();
  return answer.trim() === 'yes';
}

function eventLine(e: ApplyEvent): string {
  if (e.kind === 'skipped') return `${e.name}: skipped (${e.reason})`;
  const verb = e.op === 'destroy' ? 'Destruction' : e.action === 'update' ? 'Modification' : 'Creation';
  const doing = e.op === 'destroy' ? 'Destroying...' : e.action === 'update' ? 'Modifying...' : 'Creating...';
  switch (e.kind) {
    case 'start':
      return `${e.name}: ${doing}`;
    case 'done':
      return `${e.name}: ${verb} complete after ${(e.elapsedMs / 1000).toFixed(1)}s${e.id && e.op === 'apply' ? ` [id=${e.id}]` : ''}`;
    case 'failed':
      return `${e.name}: ${verb} FAILED after ${(e.elapsedMs / 1000).toFixed(1)}s: ${e.error}`;
  }
}

type Common = { config: StackConfig; graph: Graph };

/** Refreshes and plans; `destroy` plans the removal of everything. */
async function planFor(
  c: Common,
  stateFlag: string | undefined,
  opts: { refresh: boolean; destroy: boolean },
) {
  const backend = backendFor(c.config, stateFlag);
  const prior = await backend.read();
  const base = prior ?? emptyState(c.config.name);
  const needAgent = base.resources.length > 0 && opts.refresh;
  const ctx = needAgent ? await localContext(say) : undefined;
  try {
    const refreshed = ctx ? await refresh(base, agentHandlers, ctx) : unrefreshed(base);
    const config: StackConfig = opts.destroy
      ? { ...c.config, resources: new Map(), outputs: new Map() }
      : c.config;
    const graph = opts.destroy ? new Graph() : c.graph;
    const plan = makePlan(config, graph, refreshed, prior);
    return { backend, prior, refreshed, plan, config };
  } finally {
    await ctx?.close();
  }
}

function printServers(state: {
  resources: { type: string; name: string; attributes: Record<string, unknown> }[];
}) {
  for (const r of state.resources) {
    if (r.type !== 'server') continue;
    const a = r.attributes;
    out.write(
      `\nServer ${r.name} is ${a.status ?? '?'} on ${a.hypervisor ?? '?'} at ${a.accessIpV4 ?? '(no address)'}.\n` +
        `  Console log:  tail -f ${a.consoleLog}\n` +
        `  Reach it from the network's DHCP namespace, e.g.: ip netns exec qdhcp-${(a.addresses as { network?: string }[] | undefined)?.[0]?.network ?? '<network-id>'} curl http://${a.accessIpV4}/\n`,
    );
  }
}

async function cmdPlanOrApply(cmd: 'plan' | 'apply' | 'destroy', argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    'detailed-exitcode': { type: 'boolean' },
    json: { type: 'boolean' },
    refresh: { type: 'string' },
    'auto-approve': { type: 'boolean' },
    parallelism: { type: 'string' },
    state: { type: 'string' },
  });
  if (positionals.length > 1)
    throw new UsageError(`${cmd} takes at most one stack path, got ${positionals.join(' ')}`);
  const refreshFlag = values.refresh ?? 'true';
  if (refreshFlag !== 'true' && refreshFlag !== 'false')
    throw new UsageError('-refresh must be true or false');
  const parallelism = Number(values.parallelism ?? 10);
  if (!Number.isInteger(parallelism) || parallelism < 1)
    throw new UsageError('--parallelism must be a positive integer');
  const c = loadChecked(positionals[0]);
  const st = styleFor(out);
  const planned = await planFor(c, values.state as string | undefined, {
    refresh: refreshFlag === 'true',
    destroy: cmd === 'destroy',
  });
  const { plan } = planned;

  if (cmd === 'plan') {
    if (values.json) out.write(`${JSON.stringify(planJson(plan), null, 2)}\n`);
    else out.write(renderPlan(plan, st));
    return values['detailed-exitcode'] && hasChanges(plan) ? 2 : 0;
  }

  out.write(renderPlan(plan, st));
  if (!hasChanges(plan) && planned.prior && cmd === 'apply') {
    printServers(planned.refreshed.state);
    return 0;
  }
  if (!hasChanges(plan) && cmd === 'destroy') return 0;
  const ok = await confirm(
    `\nDo you want to ${cmd === 'destroy' ? 'destroy all resources' : 'perform these actions'}?`,
    values['auto-approve'] === true,
  );
  if (!ok) {
    say('Cancelled.');
    return 1;
  }
  return runApply(planned, parallelism);
}

async function runApply(planned: Awaited<ReturnType<typeof planFor>>, parallelism: number): Promise<number> {
  const { backend, plan, config } = planned;
  const unlock = await backend.lock('apply');
  let interrupted = 0;
  const onSigint = () => {
    interrupted++;
    if (interrupted === 1)
      say('\nInterrupt received: starting nothing new, waiting for running operations, then saving state.');
    else {
      say('Second interrupt: exiting now. State was saved after every completed operation.');
      void unlock().finally(() => process.exit(130));
    }
  };
  process.on('SIGINT', onSigint);
  const ctx = await localContext(say);
  try {
    const result = await applyPlan({
      config,
      plan,
      state: planned.refreshed.state,
      backend,
      handlers: agentHandlers,
      ctx,
      parallelism,
      onEvent: (e) => out.write(`${eventLine(e)}\n`),
      shouldStart: () => interrupted === 0,
    });
    const s = `Resources: ${result.added} added, ${result.changed} changed, ${result.destroyed} destroyed.`;
    if (!result.ok) {
      for (const e of result.errors) say(`error: ${e.name}: ${e.message}`);
      out.write(`\nApply ${interrupted ? 'interrupted' : 'failed'}. ${s}\n`);
      return 1;
    }
    out.write(
      `\n${planned.config.resources.size === 0 && result.destroyed > 0 ? 'Destroy' : 'Apply'} complete! ${s}\n`,
    );
    printServers(result.state);
    const outs = Object.entries(result.state.outputs);
    if (outs.length) {
      out.write('\nOutputs:\n\n');
      for (const [k, o] of outs)
        out.write(`${k} = ${o.sensitive ? '(sensitive value)' : JSON.stringify(o.value)}\n`);
    }
    return 0;
  } finally {
    process.off('SIGINT', onSigint);
    await ctx.close();
    await unlock();
  }
}

async function cmdValidate(argv: string[]): Promise<number> {
  const { positionals } = parseCommandArgs(argv, {});
  const { config, diagnostics } = loadChecked(positionals[0]);
  for (const d of diagnostics.items) say(formatDiagnostic(d));
  out.write(`Success! ${config.file} is valid (${config.resources.size} resources).\n`);
  return 0;
}

async function cmdShow(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    json: { type: 'boolean' },
    state: { type: 'string' },
  });
  const { config } = loadChecked(positionals[0]);
  const state = await backendFor(config, values.state as string | undefined).read();
  if (values.json) {
    const redacted = state && {
      ...state,
      resources: state.resources.map((r) => ({ ...r, attributes: redact(r.type, r.attributes) })),
      outputs: Object.fromEntries(
        Object.entries(state.outputs).map(([k, o]) => [k, o.sensitive ? { ...o, value: null } : o]),
      ),
    };
    out.write(`${JSON.stringify(redacted ?? {}, null, 2)}\n`);
  } else out.write(renderState(state, styleFor(out)));
  return 0;
}

async function cmdOutput(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    json: { type: 'boolean' },
    state: { type: 'string' },
    stack: { type: 'string' },
  });
  const { config } = loadChecked(values.stack as string | undefined);
  const state = await backendFor(config, values.state as string | undefined).read();
  const outputs = state?.outputs ?? {};
  const name = positionals[0];
  if (name !== undefined) {
    const o = outputs[name];
    if (!o) {
      say(
        `error: no output named ${JSON.stringify(name)}; outputs: ${Object.keys(outputs).join(', ') || 'none'}`,
      );
      return 1;
    }
    out.write(values.json || typeof o.value !== 'string' ? `${JSON.stringify(o.value)}\n` : `${o.value}\n`);
    return 0;
  }
  if (values.json) {
    out.write(
      `${JSON.stringify(Object.fromEntries(Object.entries(outputs).map(([k, o]) => [k, { sensitive: o.sensitive, value: o.sensitive ? null : o.value }])), null, 2)}\n`,
    );
  } else
    for (const [k, o] of Object.entries(outputs))
      out.write(`${k} = ${o.sensitive ? '(sensitive value)' : JSON.stringify(o.value)}\n`);
  return 0;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'validate':
        return await cmdValidate(rest);
      case 'plan':
      case 'apply':
      case 'destroy':
        return await cmdPlanOrApply(cmd, rest);
      case 'show':
        return await cmdShow(rest);
      case 'output':
        return await cmdOutput(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        out.write(USAGE);
        return cmd === undefined ? 1 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
    }
  } catch (e) {
    if (e instanceof DiagnosticsError) {
      for (const d of e.diagnostics) say(formatDiagnostic(d));
      const n = e.diagnostics.filter((d) => d.severity === 'error').length;
      say(`${n} error${n === 1 ? '' : 's'}; nothing was changed.`);
    } else if (e instanceof UsageError) {
      say(`error: ${e.message}\n\n${USAGE}`);
    } else if (e instanceof StateError || AgentApiError.isInstance(e)) {
      say(`error: ${e.message}`);
    } else {
      say(`error: ${(e as Error).stack ?? e}`);
    }
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
