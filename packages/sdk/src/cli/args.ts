import { parseArgs } from 'node:util';

/** A command-line usage error: reported with the usage text, exit 1. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type OptionSpec = { type: 'boolean' | 'string'; multiple?: boolean };

/**
 * Parses a command's flags. Terraform-style single-dash long flags (`-detailed-exitcode`, `-out=FILE`)
 * are accepted as well as `--detailed-exitcode`.
 */
export function parseCommandArgs(
  argv: string[],
  options: Record<string, OptionSpec>,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  const longs = new Set(Object.keys(options));
  const normalized = argv.map((a) => {
    const m = /^-([a-z][a-z0-9-]+)(=.*)?$/.exec(a);
    return m && longs.has(m[1]!) ? `--${m[1]}${m[2] ?? ''}` : a;
  });
  try {
    const { values, positionals } = parseArgs({
      args: normalized,
      options,
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Record<string, string | boolean | string[] | undefined>, positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}
