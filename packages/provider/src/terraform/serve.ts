/**
 * The gRPC server of the provider: tfplugin6.Provider, go-plugin's GRPCController (Shutdown) and the
 * standard health check, over a Unix socket with mutual TLS when Terraform sent its certificate.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { type StratusProviderOptions, StratusTerraformProvider } from './provider.js';
import { pluginCertificate } from './tls.js';

const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));

/** Options of {@link serve}. */
export interface ServeOptions extends StratusProviderOptions {
  /** Unix socket path to listen on. */
  socket: string;
  /** Terraform's certificate (PEM): when set, clients must present a certificate it signed. */
  clientCertPem?: string | undefined;
  /** Called when Terraform asks the plugin to shut down (GRPCController.Shutdown). */
  onShutdown(): void;
}

/** A running server: the handshake's certificate field (empty without TLS), and how to stop it. */
export interface Served {
  certificate: string;
  provider: StratusTerraformProvider;
  close(): Promise<void>;
}

/** Loads the protocol definitions (keeping snake_case field names, enums as strings, int64 as numbers). */
export function loadProtocol(): grpc.GrpcObject {
  const def = protoLoader.loadSync(['tfplugin6.proto', 'plugin.proto', 'health.proto'], {
    includeDirs: [PROTO_DIR],
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: false,
  });
  return grpc.loadPackageDefinition(def);
}

type Service = grpc.ServiceClientConstructor;

/** Starts the server on `opts.socket`. */
export async function serve(opts: ServeOptions): Promise<Served> {
  const proto = loadProtocol();
  const provider = new StratusTerraformProvider(opts);
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 256 * 1024 * 1024 });
  const tf = (proto.tfplugin6 as grpc.GrpcObject).Provider as Service;
  const impl: grpc.UntypedServiceImplementation = {};
  for (const [name, fn] of Object.entries(provider.handlers()))
    impl[name] = (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      Promise.resolve()
        .then(() => fn(call.request as Record<string, unknown>))
        .then(
          (res) => cb(null, res),
          (e: Error) =>
            // An unexpected failure is still a diagnostic, so Terraform shows it at the resource.
            cb(null, {
              diagnostics: [{ severity: 'ERROR', summary: `Stratus provider error: ${e.message}` }],
            }),
        );
    };
  server.addService(tf.service, impl);
  const controller = ((proto.plugin as grpc.GrpcObject).GRPCController as Service).service;
  server.addService(controller, {
    Shutdown: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
      cb(null, {});
      // Let the answer reach Terraform first: stop taking calls, finish those in flight, then exit
      // (at most a second later, so a stuck call cannot keep the plugin alive).
      const force = setTimeout(() => opts.onShutdown(), 1000);
      server.tryShutdown(() => {
        clearTimeout(force);
        opts.onShutdown();
      });
    },
  });
  const health = (((proto.grpc as grpc.GrpcObject).health as grpc.GrpcObject).v1 as grpc.GrpcObject)
    .Health as Service;
  server.addService(health.service, {
    Check: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { status: 'SERVING' }),
  });

  let certificate = '';
  let creds = grpc.ServerCredentials.createInsecure();
  if (opts.clientCertPem) {
    const cert = await pluginCertificate();
    certificate = cert.handshake;
    creds = grpc.ServerCredentials.createSsl(
      Buffer.from(opts.clientCertPem),
      [{ private_key: Buffer.from(cert.keyPem), cert_chain: Buffer.from(cert.certPem) }],
      true,
    );
  }
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix:${opts.socket}`, creds, (err) => (err ? reject(err) : resolve())),
  );
  return {
    certificate,
    provider,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
