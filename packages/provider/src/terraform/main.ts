#!/usr/bin/env node
/**
 * terraform-provider-stratus: the Stratus provider for Terraform, a go-plugin gRPC plugin speaking
 * plugin protocol 6. Terraform starts it with TF_PLUGIN_MAGIC_COOKIE and PLUGIN_CLIENT_CERT set; it
 * listens on a fresh Unix socket with mutual TLS and prints the handshake line
 * `1|6|unix|<socket>|grpc|<certificate>` on stdout. Source: hashicorp/go-plugin (server.go) and
 * Terraform's plugin protocol docs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from './serve.js';

/** Terraform's magic cookie (go-plugin HandshakeConfig of Terraform providers). */
const COOKIE_KEY = 'TF_PLUGIN_MAGIC_COOKIE';
const COOKIE_VALUE = 'd602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2';

async function main(): Promise<void> {
  if (process.env[COOKIE_KEY] !== COOKIE_VALUE) {
    process.stderr.write(
      'terraform-provider-stratus is a Terraform plugin: Terraform runs it, you do not.\n' +
        'Point Terraform at it with a CLI config holding dev_overrides (scripts/terraform-config.sh prints one),\n' +
        'then run terraform plan / apply in a directory with a stratus configuration.\n',
    );
    process.exit(1);
  }
  const versions = (process.env.PLUGIN_PROTOCOL_VERSIONS ?? '6').split(',').map((v) => v.trim());
  if (!versions.includes('6')) {
    process.stderr.write(
      `terraform-provider-stratus speaks plugin protocol 6; this Terraform asks for ${versions.join(',')} (Terraform 1.0 or newer speaks 6)\n`,
    );
    process.exit(1);
  }
  const dir = mkdtempSync(join(process.env.PLUGIN_UNIX_SOCKET_DIR || tmpdir(), 'plugin'));
  const socket = join(dir, 'provider.sock');
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const server = await serve({
    socket,
    clientCertPem: process.env.PLUGIN_CLIENT_CERT,
    onShutdown: () => {
      cleanup();
      process.exit(0);
    },
  });
  // Without Terraform's certificate (AutoMTLS off) the line has no certificate field.
  process.stdout.write(`1|6|unix|${socket}|grpc${server.certificate ? `|${server.certificate}` : ''}\n`);
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.on(sig, () => {
      // Terraform forwards interrupts; the in-flight requests are cancelled by StopProvider.
      if (sig === 'SIGTERM') {
        cleanup();
        process.exit(0);
      }
    });
  process.on('exit', cleanup);
}

main().catch((e) => {
  process.stderr.write(`terraform-provider-stratus: ${(e as Error).message}\n`);
  process.exit(1);
});
