/** What the tests that drive the real terraform binary share: its presence, its CLI config, its state. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AgentEnv, ROOT, run } from './helpers.js';

/** Whether `terraform` is on the PATH (the tests that need it skip, saying so, when it is not). */
export const HAVE_TERRAFORM = spawnSync('terraform', ['version']).status === 0;

/**
 * The environment terraform runs in against `t`'s private agent: `t.env`, a CLI config
 * (`<t.dir>/terraform.tfrc`, dev_overrides to this checkout's provider, from scripts/terraform-config.sh),
 * no upgrade checks, and `extra`.
 */
export function terraformEnv(t: AgentEnv, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const config = spawnSync('bash', [join(ROOT, 'scripts/terraform-config.sh')], { encoding: 'utf8' });
  assert.equal(config.status, 0, config.stderr);
  writeFileSync(join(t.dir, 'terraform.tfrc'), config.stdout);
  return {
    ...t.env,
    TF_CLI_CONFIG_FILE: join(t.dir, 'terraform.tfrc'),
    TF_IN_AUTOMATION: '1',
    CHECKPOINT_DISABLE: '1',
    ...extra,
  };
}

/** Attributes of the resources in the Terraform state of `dir`, by resource address. */
export async function terraformStateValues(
  dir: string,
  env: NodeJS.ProcessEnv,
): Promise<Record<string, Record<string, unknown>>> {
  const r = await run('terraform', [`-chdir=${dir}`, 'show', '-json'], env);
  const doc = JSON.parse(r.stdout || '{}') as {
    values?: { root_module?: { resources?: { address: string; values: Record<string, unknown> }[] } };
  };
  return Object.fromEntries((doc.values?.root_module?.resources ?? []).map((x) => [x.address, x.values]));
}
