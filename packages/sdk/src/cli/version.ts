import { readFileSync } from 'node:fs';

/** The version of @stratus/sdk (from its package.json; the same path from src/cli and dist/cli). */
export const STRATUS_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** The platform as Terraform names it: `linux_amd64`, `darwin_arm64`. */
export const PLATFORM = `${process.platform}_${({ x64: 'amd64', ia32: '386' } as Record<string, string>)[process.arch] ?? process.arch}`;
