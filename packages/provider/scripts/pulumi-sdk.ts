// Build step of @stratus/provider (before tsc): writes the Pulumi SDK (src/pulumi/sdk/resources.generated.ts)
// from the package schema pulumi-resource-stratus serves (src/pulumi/schema.ts, derived from the registry),
// with src/pulumi/codegen.ts. The output is not committed: registering a type is one line in the registry.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateNodejsSdk } from '../src/pulumi/codegen.ts';
import { packageSchema } from '../src/pulumi/schema.ts';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { version: string };
const out = join(pkg, 'src/pulumi/sdk/resources.generated.ts');
const text = generateNodejsSdk(packageSchema(undefined, version));
// Unchanged output keeps its timestamp, so tsc -b and turbo see nothing new.
let before = '';
try {
  before = readFileSync(out, 'utf8');
} catch {
  // First build.
}
if (before !== text) writeFileSync(out, text);
