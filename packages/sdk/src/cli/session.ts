import { join, resolve } from 'node:path';
import type { ApiOwner } from '@stratus/model';
import { localAgentPaths } from '@stratus/util';
import { type AgentPool, localPool } from '../client/pool.js';
import { Diagnostics, DiagnosticsError } from '../diagnostics/index.js';
import { checkStack } from '../engine/check.js';
import type { StackConfig } from '../engine/config.js';
import type { Graph } from '../engine/graph.js';
import { expandStack } from '../expand/expand.js';
import { isHeatTemplateFile } from '../loaders/heat/detect.js';
import type { HeatLoadOptions } from '../loaders/heat/load.js';
import { isProgramPath, loadProgram } from '../loaders/program.js';
import { readStackTemplate } from '../loaders/stack-yaml.js';
import { agentProviders } from '../protocol/index.js';
import type { ProviderSet } from '../protocol/types.js';
import { LocalBackend } from '../state/local.js';
import { PostgresBackend } from '../state/postgres.js';
import type { StateBackend } from '../state/types.js';
import { ensureLocalAgent } from './agent-launch.js';
import { CliError, type Flags } from './args.js';
import { canPrompt, inputAllowedNow, say } from './io.js';
import { stackPath } from './stack-path.js';
import { promptMissing, variableInputs } from './variables.js';

export { isStackPath, stackPath } from './stack-path.js';

/**
 * How a command gives a stack file's variables their values: `flags` (`-var`, `-var-file`, and the
 * environment, then a prompt) for commands that plan; else `lenient`: the environment only, and what
 * needs a variable without a value is left out (commands that read state, or apply a saved plan).
 */
export type VariableMode = { flags: Flags } | { lenient: true };

/**
 * A loaded and checked stack: a stack program when the path ends in .ts/.mts/.js/.mjs, else a stack
 * file. Throws DiagnosticsError when it has errors.
 */
export async function loadChecked(
  arg: string | undefined,
  vars: VariableMode = { lenient: true },
): Promise<{
  config: StackConfig;
  graph: Graph;
  diagnostics: Diagnostics;
}> {
  const path = stackPath(arg);
  const { config, diagnostics } = isProgramPath(path)
    ? await loadProgram(path)
    : isHeatTemplateFile(path)
      ? await loadHeat(path, vars)
      : await loadYaml(path, vars);
  if (!config) throw new DiagnosticsError(diagnostics.items);
  // Checked even when loading found errors, so every problem in the file is reported at once.
  const checked = checkStack(config, agentProviders(unusedPool));
  const all = new Diagnostics();
  all.append(diagnostics.items);
  all.append(checked.diagnostics.items);
  if (all.hasErrors) throw new DiagnosticsError(all.items);
  return { config, graph: checked.graph, diagnostics: all };
}

/**
 * Loads a Heat template with the environment files (`-e`) and parameter values (`-P`) the flags give.
 * Commands that only read state (lenient) give none: a template that cannot be loaded without them
 * still names its stack, state and outputs, with no resources. Names of images, flavors, networks...
 * that no resource of the template has are looked up on the local agent (cli/existing.ts) and the
 * template is loaded again with what it holds. A template with random values
 * (OS::Heat::RandomString) is loaded again with its state's random seed when the state has one, so
 * they are what was applied; nothing is written (a fresh seed is kept only by an apply).
 */
async function loadHeat(
  path: string,
  vars: VariableMode,
): Promise<{ config?: StackConfig; diagnostics: Diagnostics }> {
  const { loadHeatFile } = await import('../loaders/heat/load.js');
  const { heatInputs } = await import('./heat-flags.js');
  let opts: HeatLoadOptions = 'lenient' in vars ? { lenient: true } : heatInputs(vars.flags);
  let r = loadHeatFile(path, opts);
  // Names the template's resources do not have are looked up among the agent's objects (as Heat asks
  // Glance, Nova and Neutron), then the template is loaded again with them. Commands that only read
  // state ask no agent.
  if (r.lookups.length && r.config && !('lenient' in vars)) {
    const flags = vars.flags;
    const self = ownerOf(r.config, backendFor(r.config, flags));
    const pool = localPool(() => ensureLocalAgent(localAgentPaths(), say));
    try {
      const { existingObjects } = await import('./existing.js');
      opts = { ...opts, existing: await existingObjects(pool, r.lookups, self) };
    } catch (e) {
      throw new CliError(
        `the template names ${r.lookups.join(', ')} objects it does not declare, and the agent could not be asked for them: ${(e as Error).message}`,
      );
    } finally {
      await pool.close();
    }
    r = loadHeatFile(path, opts);
  }
  if (r.config?.randomSeed) {
    const flags = 'lenient' in vars ? {} : vars.flags;
    const seed = await stateRandomSeed(r.config, flags);
    if (seed) r = loadHeatFile(path, { ...opts, randomSeed: seed });
  }
  if (!('lenient' in vars) || !r.diagnostics.hasErrors || !r.config) return r;
  return {
    config: { ...r.config, resources: new Map(), outputs: new Map(), invalid: new Set() },
    diagnostics: new Diagnostics(),
  };
}

/** The random seed the stack's state keeps, if it has one (a state that cannot be read has none here). */
async function stateRandomSeed(
  config: StackConfig,
  flags: Record<string, unknown>,
): Promise<string | undefined> {
  let backend: StateBackend | undefined;
  try {
    backend = backendFor(config, flags);
    return (await backend.read())?.randomSeed;
  } catch {
    // Unreadable state (or a bad -state/-backend-url): the command that uses the state says why.
    return undefined;
  } finally {
    if (backend instanceof PostgresBackend) await backend.close();
  }
}

/** Reads a stack file and expands it with its variables' values (see {@link VariableMode}). */
async function loadYaml(
  path: string,
  vars: VariableMode,
): Promise<{ config?: StackConfig; diagnostics: Diagnostics }> {
  const t = readStackTemplate(path);
  if (!t.template) return { diagnostics: t.diagnostics };
  if ('lenient' in vars) return expandStack(t.template, variableInputs({}), { lenient: true }, t.diagnostics);
  const inputs = variableInputs(vars.flags);
  await promptMissing(t.template.variables, inputs);
  const missingHint = canPrompt()
    ? undefined
    : inputAllowedNow()
      ? 'not running interactively, so it could not be asked for'
      : '-input=false forbids asking for it';
  return expandStack(t.template, inputs, missingHint ? { missingHint } : {}, t.diagnostics);
}

/** The state backend for a stack: `--state`, the stack's `backend`, or stratus.state.json beside it. */
export function backendFor(config: StackConfig, flags: Record<string, unknown>): StateBackend {
  const stateFlag = flags.state as string | undefined;
  const urlFlag = flags['backend-url'] as string | undefined;
  if (stateFlag && urlFlag) throw new CliError('-state and -backend-url exclude each other');
  if (stateFlag) return new LocalBackend(resolve(stateFlag));
  if (urlFlag) return new PostgresBackend(urlFlag, config.name);
  const b = config.backend;
  if (b?.type === 'postgres') {
    const url = b.url ?? process.env.STRATUS_BACKEND_URL;
    if (!url)
      throw new CliError(
        'backend postgres needs `url` in the stack or STRATUS_BACKEND_URL in the environment',
      );
    return new PostgresBackend(url, config.name, { schema: b.schema });
  }
  if (b?.type === 'local' && b.path) return new LocalBackend(b.path);
  return new LocalBackend(join(config.dir, 'stratus.state.json'));
}

/**
 * The owner the agents record on what this stack's runs create or import: the stack and where its state
 * is (a file's absolute path, or the database's address without its password).
 */
export function ownerOf(config: StackConfig, backend: StateBackend): ApiOwner {
  const local = backend instanceof LocalBackend;
  return {
    tool: 'stratus',
    stack: config.name,
    backend: local ? 'local' : 'postgres',
    state: local ? resolve(backend.where) : backend.where,
  };
}

/** Validation and planning are pure: providers made for them never reach an agent. */
const unusedPool = localPool(async () => {
  throw new Error('bug: validation reached for an agent');
});

/**
 * The providers of the local host's agent, with the pool they use. The agent is started (when none
 * runs) only once a call needs it, so plans of an empty state start nothing.
 */
export function localProviders(say: (m: string) => void): { providers: ProviderSet; pool: AgentPool } {
  const pool = localPool(() => ensureLocalAgent(localAgentPaths(), say));
  return { providers: agentProviders(pool), pool };
}
