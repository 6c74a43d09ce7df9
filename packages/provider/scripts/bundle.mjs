// Build step of terraform-provider-stratus after tsc (npm run build in this package):
// 1. dist/terraform/protocol.json: the protocol's descriptor, so a starting provider reads JSON instead
//    of parsing the .proto files (src/terraform/protocol.ts);
// 2. dist/bundle/: the provider executable bundled by esbuild, one file for what the handshake needs
//    (grpc-js, the TLS certificate, the socket) and chunks loaded after it (the codec, the provider with
//    the model, the protocol and the agent client). Node then resolves and reads a few files instead of
//    some hundreds at each start, and Terraform starts the provider several times per command.
//    bin/terraform-provider-stratus runs the bundle (bench/terraform.ts measures the start).
// Kept in this package: the CLI's bundling (speed-cli) is its own.
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { PROTOCOL_JSON, protocolFromProtos } from '../dist/terraform/protocol.js';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const json = join(pkg, 'dist/terraform', PROTOCOL_JSON);
writeFileSync(json, `${JSON.stringify(await protocolFromProtos())}\n`);

const out = join(pkg, 'dist/bundle');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { main: join(pkg, 'dist/terraform/main.js') },
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Bundled CommonJS (grpc-js, protobufjs) calls require() for node's own modules.
  banner: {
    js: "import { createRequire as __stratusRequire } from 'node:module';\nconst require = __stratusRequire(import.meta.url);",
  },
  sourcemap: 'linked',
  logLevel: 'warning',
  legalComments: 'none',
  minify: true,
  keepNames: true,
});
// The bundle reads the descriptor beside itself, as the unbundled modules do.
copyFileSync(json, join(out, PROTOCOL_JSON));
