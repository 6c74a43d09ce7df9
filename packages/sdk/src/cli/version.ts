import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The directory of the @stratus/sdk package, with a trailing slash: two levels above this module, the
 * same from src/cli, dist/cli and the CLI's bundle in dist/bundle (see scripts/bundle-cli.ts).
 */
export const SDK_DIR: string = fileURLToPath(new URL('../../', import.meta.url));

/** The version of @stratus/sdk (from its package.json). */
export const STRATUS_VERSION: string = (
  JSON.parse(readFileSync(`${SDK_DIR}package.json`, 'utf8')) as { version: string }
).version;

/** The platform as Terraform names it: `linux_amd64`, `darwin_arm64`. */
export const PLATFORM = `${process.platform}_${({ x64: 'amd64', ia32: '386' } as Record<string, string>)[process.arch] ?? process.arch}`;
