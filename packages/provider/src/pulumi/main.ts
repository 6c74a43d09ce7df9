#!/usr/bin/env node
/**
 * pulumi-resource-stratus: the Stratus resource provider for Pulumi. The Pulumi engine starts it as
 * `pulumi-resource-stratus [flags] <engine-address>` (flags such as `--logtostderr`, `-v=9`,
 * `--tracing <endpoint>`); it listens on a free loopback port and prints the port number alone on the
 * first line of stdout, which is how the engine finds it. Source: Pulumi's plugin protocol
 * (sdk/go/common/resource/plugin/plugin.go: the port handshake).
 */
import { readFileSync } from 'node:fs';
import { serve } from './serve.js';

/** The engine's address among Pulumi's plugin arguments: the positional one. */
export function engineAddressOf(args: string[]): string | undefined {
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--tracing' || a === '--root') i++;
    else if (!a.startsWith('-')) positional.push(a);
  }
  return positional[0];
}

/** This package's version (the provider's plugin version), from its package.json. */
function version(): string {
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === '@stratus/provider' && pkg.version) return pkg.version;
    } catch {
      // Not here; the next place.
    }
  }
  return '0.1.0';
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(
      'pulumi-resource-stratus is a Pulumi resource plugin: the Pulumi engine runs it, you do not.\n' +
        'Install it with `pulumi plugin install resource stratus <version> --file <plugin directory>`\n' +
        '(see "Pulumi" in the Stratus README), then run `pulumi up` in a project using @stratus/provider/pulumi.\n',
    );
    return;
  }
  const served = await serve({ engineAddress: engineAddressOf(args), version: version() });
  // The engine reads the port from the first line of stdout.
  process.stdout.write(`${served.port}\n`);
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.on(sig, () => {
      // The engine sends Cancel for in-flight operations first; a signal ends the plugin.
      served.provider.cancel();
      void served.close().finally(() => process.exit(0));
      setTimeout(() => process.exit(0), 2000).unref();
    });
}

main().catch((e) => {
  process.stderr.write(`pulumi-resource-stratus: ${(e as Error).message}\n`);
  process.exit(1);
});
