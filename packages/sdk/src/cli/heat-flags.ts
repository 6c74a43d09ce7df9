/**
 * The Heat flags of plan, apply, destroy and validate, as the openstack CLI spells them
 * (`openstack stack create -e env.yaml --parameter key=value`) and the heat CLI (`-P key=value`):
 * `-e`/`-environment FILE` (repeatable, in order) and `-P`/`-parameter KEY=VALUE` (repeatable;
 * `-P 'a=1;b=2'` gives several, as the heat CLI takes them).
 */
import type { HeatLoadOptions } from '../loaders/heat/load.js';
import { CliError, type Flags } from './args.js';

/** The environment files and parameter values the flags give, for the HOT loader. */
export function heatInputs(flags: Flags): HeatLoadOptions {
  const list = (k: string) => (flags[k] as string[] | undefined) ?? [];
  const environments = [...list('environment'), ...list('e')];
  const parameters = new Map<string, string>();
  for (const a of [...list('parameter'), ...list('P')])
    for (const part of a.includes(';') ? a.split(';') : [a]) {
      const eq = part.indexOf('=');
      if (eq <= 0)
        throw new CliError(
          `-P takes KEY=VALUE, got ${JSON.stringify(part.length > 40 ? `${part.slice(0, 40)}...` : part.split('=')[0])}`,
        );
      parameters.set(part.slice(0, eq), part.slice(eq + 1));
    }
  return { environments, parameters };
}
