/**
 * The gRPC server of `pulumi-resource-stratus`: Pulumi's `pulumirpc.ResourceProvider` service, with the
 * service definition and message classes `@pulumi/pulumi` ships (proto/provider_grpc_pb.js,
 * provider_pb.js; google-protobuf's Struct for property bags). Each RPC decodes its request into plain
 * values and calls {@link StratusPulumiProvider}. The provider runtime of `@pulumi/pulumi/provider`
 * (`main(provider)`) is not used: its Provider interface has no detailed diff, no CheckConfig, no
 * operation timeouts and no per-call cancellation, which this provider answers.
 *
 * Log lines go to the engine's Log service (at debug level, so `pulumi up --debug` or `-v` shows them);
 * they never hold attribute values.
 */
import * as grpc from '@grpc/grpc-js';
import engineRpc from '@pulumi/pulumi/proto/engine_grpc_pb.js';
import enginePb from '@pulumi/pulumi/proto/engine_pb.js';
import pluginPb from '@pulumi/pulumi/proto/plugin_pb.js';
import providerRpc from '@pulumi/pulumi/proto/provider_grpc_pb.js';
import providerPb from '@pulumi/pulumi/proto/provider_pb.js';
import statusPb from '@pulumi/pulumi/proto/status_pb.js';
import anyPb from 'google-protobuf/google/protobuf/any_pb.js';
import emptyPb from 'google-protobuf/google/protobuf/empty_pb.js';
import structPb from 'google-protobuf/google/protobuf/struct_pb.js';
import { ProviderError, type PulumiProviderOptions, StratusPulumiProvider } from './provider.js';

// google-protobuf: the one copy @pulumi/pulumi's stubs load too (a direct dependency of the same version).
const { Struct } = structPb;
const { Empty } = emptyPb;
const { Any } = anyPb;

type StructLike = { toJavaScript(): Record<string, unknown> } | undefined;
const js = (s: StructLike): Record<string, unknown> => s?.toJavaScript() ?? {};
// biome-ignore lint/suspicious/noExplicitAny: the stubs' message setters take their own Struct type.
const struct = (v: Record<string, unknown>): any => Struct.fromJavaScript(v as never);

/** Options of {@link serve}. */
export interface ServeOptions extends Omit<PulumiProviderOptions, 'log'> {
  /** The engine's gRPC address (`127.0.0.1:PORT`), for its Log service; may also come by Handshake/Attach. */
  engineAddress?: string | undefined;
  /** Address to listen on (default `127.0.0.1:0`: loopback, a free port). */
  listen?: string;
}

/** A running server: its port, the provider behind it, and how to stop it. */
export interface Served {
  port: number;
  provider: StratusPulumiProvider;
  close(): Promise<void>;
}

/** The gRPC error of a failed call; an object that exists despite the failure rides in its details. */
function grpcError(e: unknown): grpc.ServiceError {
  const err = e as Error & { code?: number };
  const metadata = new grpc.Metadata();
  const init = e instanceof ProviderError ? e.initFailed : undefined;
  if (init) {
    const status = new statusPb.Status();
    status.setCode(grpc.status.UNKNOWN);
    status.setMessage(err.message);
    const detail = new providerPb.ErrorResourceInitFailed();
    detail.setId(init.id);
    detail.setProperties(struct(init.properties));
    detail.setReasonsList(init.reasons);
    const any = new Any();
    any.pack(detail.serializeBinary(), 'pulumirpc.ErrorResourceInitFailed');
    status.addDetails(any);
    metadata.add('grpc-status-details-bin', Buffer.from(status.serializeBinary()));
  }
  return Object.assign(new Error(err.message), {
    code: e instanceof ProviderError ? grpc.status.UNKNOWN : (err.code ?? grpc.status.UNKNOWN),
    details: err.message,
    metadata,
  }) as grpc.ServiceError;
}

type Call<Req> = grpc.ServerUnaryCall<Req, unknown>;

/** A unary handler: runs `fn` with the request and a signal aborted when the engine cancels the call. */
function unary<Req>(fn: (req: Req, signal: AbortSignal) => Promise<unknown> | unknown) {
  return (call: Call<Req>, cb: grpc.sendUnaryData<unknown>) => {
    const ac = new AbortController();
    call.on('cancelled', () => ac.abort(new DOMException('the engine cancelled the call', 'AbortError')));
    Promise.resolve()
      .then(() => fn(call.request, ac.signal))
      .then(
        (res) => cb(null, res),
        (e) => cb(grpcError(e)),
      );
  };
}

/** Starts the provider's gRPC server; resolves once it listens. */
export async function serve(opts: ServeOptions = {}): Promise<Served> {
  let engine: InstanceType<typeof engineRpc.EngineClient> | undefined;
  let engineAddress = opts.engineAddress;
  const log: PulumiProviderOptions['log'] = (severity, message, urn) => {
    if (!engineAddress) return;
    engine ??= new engineRpc.EngineClient(engineAddress, grpc.credentials.createInsecure());
    const req = new enginePb.LogRequest();
    req.setSeverity(severity === 'debug' ? enginePb.LogSeverity.DEBUG : enginePb.LogSeverity.WARNING);
    req.setMessage(message);
    if (urn) req.setUrn(urn);
    // Best effort: a log line that cannot be sent never fails an operation.
    engine.log(req, () => undefined);
  };
  const provider = new StratusPulumiProvider({ ...opts, log });
  const P = providerPb;

  const impl: grpc.UntypedServiceImplementation = {
    handshake: unary((req: InstanceType<typeof P.ProviderHandshakeRequest>) => {
      engineAddress = req.getEngineAddress() || engineAddress;
      const res = new P.ProviderHandshakeResponse();
      res.setAcceptSecrets(true);
      res.setAcceptResources(true);
      res.setAcceptOutputs(false);
      return res;
    }),
    attach: unary((req: { getAddress(): string }) => {
      engineAddress = req.getAddress();
      return new Empty();
    }),
    getPluginInfo: unary(() => {
      const info = new pluginPb.PluginInfo();
      info.setVersion(provider.version);
      return info;
    }),
    getSchema: unary((req: InstanceType<typeof P.GetSchemaRequest>) => {
      if (req.getVersion() > 0 && req.getVersion() !== 0 && req.getSubpackageName())
        throw Object.assign(new Error('Stratus has no sub-packages'), { code: grpc.status.INVALID_ARGUMENT });
      const res = new P.GetSchemaResponse();
      res.setSchema(provider.schema());
      return res;
    }),
    checkConfig: unary((req: InstanceType<typeof P.CheckRequest>) => {
      const out = provider.checkConfig(js(req.getNews()));
      const res = new P.CheckResponse();
      res.setInputs(struct(out.inputs));
      res.setFailuresList(out.failures.map((f) => failure(f)));
      return res;
    }),
    diffConfig: unary((req: InstanceType<typeof P.DiffRequest>) => {
      const olds = JSON.stringify(js(req.getOlds()));
      const news = JSON.stringify(js(req.getNews()));
      const res = new P.DiffResponse();
      // A new agent address or token changes how resources are reached, never the resources.
      res.setChanges(
        olds === news ? P.DiffResponse.DiffChanges.DIFF_NONE : P.DiffResponse.DiffChanges.DIFF_SOME,
      );
      return res;
    }),
    configure: unary((req: InstanceType<typeof P.ConfigureRequest>) => {
      const variables: Record<string, string> = {};
      for (const [k, v] of req.getVariablesMap().entries()) variables[k] = v;
      try {
        provider.configure(js(req.getArgs()), variables, req.getUrn() || undefined);
      } catch (e) {
        throw Object.assign(new Error((e as Error).message), { code: grpc.status.INVALID_ARGUMENT });
      }
      const res = new P.ConfigureResponse();
      res.setAcceptsecrets(true);
      res.setSupportspreview(true);
      res.setAcceptresources(true);
      res.setAcceptoutputs(false);
      return res;
    }),
    cancel: unary(() => {
      provider.cancel();
      return new Empty();
    }),
    check: unary((req: InstanceType<typeof P.CheckRequest>) => {
      const out = provider.check(req.getUrn(), js(req.getNews()));
      const res = new P.CheckResponse();
      res.setInputs(struct(out.inputs));
      res.setFailuresList(out.failures.map((f) => failure(f)));
      return res;
    }),
    diff: unary((req: InstanceType<typeof P.DiffRequest>) => {
      const out = provider.diff({
        urn: req.getUrn(),
        olds: js(req.getOlds()),
        news: js(req.getNews()),
        ignoreChanges: req.getIgnorechangesList(),
      });
      const res = new P.DiffResponse();
      res.setChanges(
        out.changes ? P.DiffResponse.DiffChanges.DIFF_SOME : P.DiffResponse.DiffChanges.DIFF_NONE,
      );
      res.setReplacesList(out.replaces);
      res.setDiffsList(Object.keys(out.detailedDiff));
      res.setDeletebeforereplace(out.deleteBeforeReplace);
      res.setHasdetaileddiff(true);
      const map = res.getDetaileddiffMap();
      for (const [k, d] of Object.entries(out.detailedDiff)) {
        const pd = new P.PropertyDiff();
        pd.setKind(P.PropertyDiff.Kind[d.kind]);
        pd.setInputdiff(d.inputDiff);
        map.set(k, pd);
      }
      return res;
    }),
    create: unary(async (req: InstanceType<typeof P.CreateRequest>, signal) => {
      const out = await provider.create(
        {
          urn: req.getUrn(),
          properties: js(req.getProperties()),
          timeout: req.getTimeout(),
          preview: req.getPreview(),
        },
        signal,
      );
      const res = new P.CreateResponse();
      res.setId(out.id);
      res.setProperties(struct(out.properties));
      return res;
    }),
    read: unary(async (req: InstanceType<typeof P.ReadRequest>, signal) => {
      const out = await provider.read(
        {
          id: req.getId(),
          urn: req.getUrn(),
          properties: js(req.getProperties()),
          inputs: js(req.getInputs()),
          timeout: req.getTimeout(),
        },
        signal,
      );
      const res = new P.ReadResponse();
      res.setId(out.id);
      res.setProperties(struct(out.properties));
      res.setInputs(struct(out.inputs));
      return res;
    }),
    update: unary(async (req: InstanceType<typeof P.UpdateRequest>, signal) => {
      const out = await provider.update(
        {
          id: req.getId(),
          urn: req.getUrn(),
          olds: js(req.getOlds()),
          news: js(req.getNews()),
          timeout: req.getTimeout(),
          preview: req.getPreview(),
          ignoreChanges: req.getIgnorechangesList(),
        },
        signal,
      );
      const res = new P.UpdateResponse();
      res.setProperties(struct(out.properties));
      return res;
    }),
    delete: unary(async (req: InstanceType<typeof P.DeleteRequest>, signal) => {
      await provider.delete(
        {
          id: req.getId(),
          urn: req.getUrn(),
          properties: js(req.getProperties()),
          timeout: req.getTimeout(),
        },
        signal,
      );
      return new Empty();
    }),
  };

  const server = new grpc.Server({ 'grpc.max_receive_message_length': 400 * 1024 * 1024 });
  server.addService(providerRpc.ResourceProviderService as unknown as grpc.ServiceDefinition, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(opts.listen ?? '127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    port,
    provider,
    close: () =>
      new Promise<void>((resolve) => {
        engine?.close();
        server.tryShutdown(() => resolve());
      }),
  };
}

function failure(f: { property: string; reason: string }) {
  const m = new providerPb.CheckFailure();
  m.setProperty(f.property);
  m.setReason(f.reason);
  return m;
}
