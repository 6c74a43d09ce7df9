#!/usr/bin/env node
import { AgentApiError } from '../client/errors.js';
import { DiagnosticsError } from '../diagnostics/index.js';
import { formatDiagnosticsCapped } from '../diagnostics/limits.js';
import { StateError } from '../state/types.js';
import { UsageError } from './args.js';
import { cmdGraph, cmdOutput, cmdShow, cmdValidate } from './commands/info.js';
import { cmdApply, cmdPlan } from './commands/plan-apply.js';
import { cmdForceUnlock, cmdImport, cmdState } from './commands/state.js';
import { out, say } from './io.js';

const USAGE = `Usage: stratus <command> [options] [STACK]

STACK is a stack file, or a directory holding stack.yaml (default: ./stack.yaml).

Commands:
  validate                 Check a stack file; no host is touched.
  plan                     Show what apply would change.
      -detailed-exitcode   Exit 0 for no changes, 2 for changes, 1 for errors.
      -refresh=false       Do not read live state from the agents first.
      -out FILE            Save the plan; \`stratus apply FILE\` applies exactly it.
      -target ADDR         Only ADDR and what it depends on (repeatable).
      -replace ADDR        Replace ADDR even if unchanged (repeatable).
      -destroy             Plan destroying everything.
      --json               Print the plan as JSON (Terraform's plan shape).
  apply [STACK|PLANFILE]   Make the infrastructure match the stack (or apply a saved plan).
      --auto-approve       Do not ask for confirmation.
      --parallelism N      Operations at once (default 10).
      -target, -replace, -refresh=false as for plan.
  destroy                  Destroy everything in the stack's state.
  show [--json]            Show the resources in state (sensitive values redacted).
  output [NAME] [--json]   Show output values.
  graph                    Print the dependency graph as Graphviz DOT.
  state list|show ADDR|rm ADDR...|mv SRC DST
                           Inspect or edit state (takes --stack FILE).
  import ADDR ID           Adopt an existing object (domain, bridge, image) as ADDR (takes --stack FILE).
  force-unlock LOCK_ID     Remove a lock left by a crashed run (takes --stack FILE).

Common options:
  --state PATH             State file (default: stratus.state.json beside the stack file).
`;

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'validate':
        return await cmdValidate(rest);
      case 'plan':
        return await cmdPlan(rest);
      case 'apply':
      case 'destroy':
        return await cmdApply(cmd, rest);
      case 'show':
        return await cmdShow(rest);
      case 'output':
        return await cmdOutput(rest);
      case 'graph':
        return await cmdGraph(rest);
      case 'state':
        return await cmdState(rest);
      case 'import':
        return await cmdImport(rest);
      case 'force-unlock':
        return await cmdForceUnlock(rest);
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
      for (const line of formatDiagnosticsCapped(e.diagnostics)) say(line);
      const n = e.diagnostics.filter((d) => d.severity === 'error').length;
      say(`${n} error${n === 1 ? '' : 's'}; nothing was changed.`);
    } else if (e instanceof UsageError) {
      say(`error: ${e.message}\n\nRun \`stratus help\` for usage.`);
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
