/**
 * The gRPC server of the provider: tfplugin6.Provider, go-plugin's GRPCController (Shutdown) and the
 * standard health check, over a Unix socket with mutual TLS when Terraform sent its certificate.
 */
import * as grpc from '@grpc/grpc-js';
import type { Codec } from './codec.js';
import { loadProtocolJson, type MethodInfo, PROTO_DIR, PROTO_FILES, serviceMethods } from './protocol.js';
import type { StratusProviderOptions, StratusTerraformProvider } from './provider.js';
import { pluginCertificate } from './tls.js';

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

/**
 * The protocol as gRPC client constructors (@grpc/proto-loader: snake_case field names, enums as
 * strings, int64 as numbers), for tests and tools that call a provider; the server does not use it.
 */
export async function loadProtocol(): Promise<grpc.GrpcObject> {
  const protoLoader = await import('@grpc/proto-loader');
  const def = protoLoader.loadSync([...PROTO_FILES], {
    includeDirs: [PROTO_DIR],
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: false,
  });
  return grpc.loadPackageDefinition(def);
}

/**
 * A gRPC service definition whose calls carry raw bytes: messages are decoded and encoded by the
 * handler (with the codec loaded after the handshake), so starting the server needs no protobuf code.
 */
function rawService(methods: MethodInfo[]): grpc.ServiceDefinition {
  const same = (b: Buffer) => b;
  return Object.fromEntries(
    methods.map((m) => [
      m.name,
      {
        path: m.path,
        requestStream: false,
        responseStream: false,
        requestSerialize: same,
        requestDeserialize: same,
        responseSerialize: same,
        responseDeserialize: same,
        originalName: m.name,
      },
    ]),
  );
}

type Handlers = ReturnType<StratusTerraformProvider['handlers']>;
type Raw = grpc.ServerUnaryCall<Buffer, Buffer>;

/** Starts the server on `opts.socket`. */
export async function serve(opts: ServeOptions): Promise<Served> {
  // What the handshake does not need is loaded once the server listens, after the caller printed the
  // handshake line: the message codec (protobufjs) and the provider (the model, the protocol, the
  // agent client). The first call waits for them.
  const json = await loadProtocolJson(import.meta.url);
  let codec: Promise<Codec> | undefined;
  const loadCodec = () => {
    codec ??= import('./codec.js').then((m) => new m.Codec(json));
    return codec;
  };
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
  /** A unary handler: decode the request, answer with `fn`'s value encoded (or a gRPC error). */
  const unary =
    (m: MethodInfo, fn: (req: Record<string, unknown>) => Promise<unknown>) =>
    (call: Raw, cb: grpc.sendUnaryData<Buffer>) => {
      loadCodec()
        .then(async (c) => {
          let res: unknown;
          try {
            res = await fn(c.decode(m.requestType, call.request));
          } catch (e) {
            if ((e as { code?: number }).code === grpc.status.UNIMPLEMENTED) throw e;
            // An unexpected failure is still a diagnostic, so Terraform shows it at the resource.
            res = {
              diagnostics: [
                { severity: 'ERROR', summary: `Stratus provider error: ${(e as Error).message}` },
              ],
            };
          }
          return c.encode(m.responseType, res);
        })
        .then(
          (bytes) => cb(null, bytes),
          (e: Error & { code?: number }) => cb({ code: e.code ?? grpc.status.INTERNAL, details: e.message }),
        );
    };

  const server = new grpc.Server({ 'grpc.max_receive_message_length': 256 * 1024 * 1024 });
  const tf = serviceMethods(json, 'tfplugin6.Provider');
  const impl: grpc.UntypedServiceImplementation = {};
  for (const m of tf)
    impl[m.name] = unary(m, async (req) => {
      const fn = (await load()).handlers[m.name];
      if (!fn)
        throw Object.assign(new Error(`terraform-provider-stratus does not serve ${m.name}`), {
          code: grpc.status.UNIMPLEMENTED,
        });
      return fn(req);
    });
  server.addService(rawService(tf), impl);
  const controller = serviceMethods(json, 'plugin.GRPCController');
  server.addService(rawService(controller), {
    Shutdown: unary(controller.find((m) => m.name === 'Shutdown')!, async () => {
      // Let the answer reach Terraform first: stop taking calls, finish those in flight, then exit
      // (at most a second later, so a stuck call cannot keep the plugin alive).
      setImmediate(() => {
        const force = setTimeout(() => opts.onShutdown(), 1000);
        server.tryShutdown(() => {
          clearTimeout(force);
          opts.onShutdown();
        });
      });
      return {};
    }),
  });
  const health = serviceMethods(json, 'grpc.health.v1.Health');
  server.addService(rawService(health), {
    Check: unary(health.find((m) => m.name === 'Check')!, async () => ({ status: 'SERVING' })),
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
  setImmediate(() => {
    loadCodec().catch(() => undefined);
    load();
  });
  return {
    certificate,
    provider: () => load().then((l) => l.provider),
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
