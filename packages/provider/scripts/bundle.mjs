// Build step of terraform-provider-stratus after tsc (npm run build in this package):
// 1. dist/terraform/protocol.json: the protocol's descriptor, so a starting provider reads JSON instead
//    of parsing the .proto files (src/terraform/protocol.ts);
// 2. dist/bundle/: the provider executable bundled by esbuild, one file for what the handshake needs
//    (grpc-js, the TLS certificate, the socket) and chunks loaded after it (the codec, the provider with
//    the model, the protocol and the agent client). Node then resolves and reads a few files instead of
//    some hundreds at each start, and Terraform starts the provider several times per command.
//    bin/terraform-provider-stratus runs the bundle (bench/terraform.ts measures the start).
// Kept in this package: the CLI's bundling (speed-cli) is its own.
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
/** esbuild options both bundles share: one ES module for node 20, minified with names kept. */
const BUNDLE = {
  bundle: true,
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
};
await build({
  ...BUNDLE,
  entryPoints: { main: join(pkg, 'dist/terraform/main.js') },
  outdir: out,
  splitting: true,
});
// The bundle reads the descriptor beside itself, as the unbundled modules do.
copyFileSync(json, join(out, PROTOCOL_JSON));

// 3. dist/pulumi-plugin/: the Pulumi plugin directory `pulumi plugin install resource stratus VERSION
//    --file dist/pulumi-plugin` takes: pulumi-resource-stratus (the executable the engine runs), main.mjs
//    (the provider in one file: no node_modules needed beside it), and the manifests of a Node.js
//    plugin (PulumiPlugin.yaml, package.json with index.cjs as its main) for engines that launch the
//    plugin through their Node.js language host instead.
const { version } = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8'));
const plugin = join(pkg, 'dist/pulumi-plugin');
rmSync(plugin, { recursive: true, force: true });
mkdirSync(plugin, { recursive: true });
await build({
  ...BUNDLE,
  entryPoints: { main: join(pkg, 'dist/pulumi/main.js') },
  outdir: plugin,
  outExtension: { '.js': '.mjs' },
});
writeFileSync(
  join(plugin, 'pulumi-resource-stratus'),
  '#!/bin/sh\n# pulumi-resource-stratus: the Stratus resource provider for Pulumi (the engine runs it).\nexec node "$(dirname "$(readlink -f "$0")")/main.mjs" "$@"\n',
  { mode: 0o755 },
);
writeFileSync(join(plugin, 'PulumiPlugin.yaml'), 'runtime: nodejs\n');
writeFileSync(
  join(plugin, 'package.json'),
  `${JSON.stringify(
    {
      name: 'pulumi-resource-stratus',
      version,
      description: 'The Stratus resource provider for Pulumi (a plugin directory; see the Stratus README).',
      license: 'Apache-2.0',
      main: 'index.cjs',
      dependencies: {
        '@pulumi/pulumi': JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')).dependencies[
          '@pulumi/pulumi'
        ],
      },
    },
    null,
    2,
  )}\n`,
);
// The language host requires the main module (CommonJS); the provider is an ES module.
writeFileSync(join(plugin, 'index.cjs'), "'use strict';\nimport('./main.mjs');\n");
