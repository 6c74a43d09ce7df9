/**
 * The gRPC server of the provider: tfplugin6.Provider, go-plugin's GRPCController (Shutdown) and the
 * standard health check, over a Unix socket with mutual TLS when Terraform sent its certificate.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { StratusProviderOptions, StratusTerraformProvider } from './provider.js';
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
  /** The provider behind the server, once loaded. */
  provider(): Promise<StratusTerraformProvider>;
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
type Handlers = ReturnType<StratusTerraformProvider['handlers']>;

/** Starts the server on `opts.socket`. */
export async function serve(opts: ServeOptions): Promise<Served> {
  // The provider (the model, the protocol, the agent client) is loaded once the server listens, after
  // the caller printed the handshake line (module evaluation would hold it back); the first call waits.
  let loaded: Promise<{ provider: StratusTerraformProvider; handlers: Handlers }> | undefined;
  const load = () => {
    loaded ??= import('./provider.js').then((m) => {
      const provider = new m.StratusTerraformProvider(opts);
      return { provider, handlers: provider.handlers() };
    });
    // A failure to load is reported by each call (as a diagnostic), not as an unhandled rejection.
    loaded.catch(() => undefined);
    return loaded;
  };
  const proto = loadProtocol();
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 256 * 1024 * 1024 });
  const tf = (proto.tfplugin6 as grpc.GrpcObject).Provider as Service;
  const impl: grpc.UntypedServiceImplementation = {};
  for (const name of Object.keys(tf.service))
    impl[name] = (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      load()
        .then(({ handlers }) => {
          const fn = handlers[name];
          if (!fn)
            return Promise.reject(
              Object.assign(new Error(`terraform-provider-stratus does not serve ${name}`), {
                code: grpc.status.UNIMPLEMENTED,
              }),
            );
          return fn(call.request as Record<string, unknown>);
        })
        .then(
          (res) => cb(null, res),
          (e: Error & { code?: number }) =>
            e.code === grpc.status.UNIMPLEMENTED
              ? cb({ code: e.code, details: e.message })
              : // An unexpected failure is still a diagnostic, so Terraform shows it at the resource.
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
  setImmediate(load);
  return {
    certificate,
    provider: () => load().then((l) => l.provider),
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
