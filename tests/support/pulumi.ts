/**
 * Test helpers for the Pulumi front end: run a Pulumi program under Pulumi's own runtime with
 * `pulumi.runtime.setMocks` (what it registers, in the order the runtime registers it: a resource
 * after the resources its inputs wait for), and a client of a running `pulumi-resource-stratus` made
 * from the protobuf stubs `@pulumi/pulumi` ships, with a stand-in for the engine's Log service.
 */
import { pathToFileURL } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as pulumi from '@pulumi/pulumi';
import engineRpc from '@pulumi/pulumi/proto/engine_grpc_pb.js';
import providerRpc from '@pulumi/pulumi/proto/provider_grpc_pb.js';
import providerPb from '@pulumi/pulumi/proto/provider_pb.js';
import emptyPb from 'google-protobuf/google/protobuf/empty_pb.js';
import structPb from 'google-protobuf/google/protobuf/struct_pb.js';

/** One resource a program registered. */
export interface Registration {
  /** The type token (`stratus:index:Server`). */
  type: string;
  name: string;
  /** Its inputs as the runtime sent them (secrets unwrapped; other resources' ids are their mock ids). */
  inputs: Record<string, unknown>;
  /** The id the mocks gave it: `<name>-mock-id`. */
  id: string;
}

/** The mock id of resource `name`. */
export const mockId = (name: string) => `${name}-mock-id`;

/**
 * Runs the program module `file` (an ES module) under Pulumi's runtime with mocks; resolves once each
 * of its exported outputs is known, with what it registered and the outputs' values.
 */
export async function runWithMocks(
  file: string,
  project = 'quickstart',
  stack = 'dev',
): Promise<{ registrations: Registration[]; outputs: Record<string, unknown> }> {
  const registrations: Registration[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const id = mockId(args.name);
        registrations.push({ type: args.type, name: args.name, inputs: args.inputs, id });
        return { id, state: args.inputs };
      },
      call: (args) => args.inputs,
    },
    project,
    stack,
    false,
  );
  const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  const outputs: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(mod))
    if (pulumi.Output.isInstance(v)) outputs[k] = await new Promise((r) => v.apply((x) => r(x)));
  return { registrations, outputs };
}

/** A plain value as a Struct (google-protobuf's, the one the stubs use). */
export const struct = (v: Record<string, unknown>) => structPb.Struct.fromJavaScript(v as never);

// biome-ignore lint/suspicious/noExplicitAny: matches any generated client method.
type Method = (...args: any[]) => unknown;
/** The response type of a generated client method (its last overload: request, metadata, options, callback). */
type ResponseOf<F> = F extends (
  req: never,
  md: never,
  opts: never,
  cb: (e: grpc.ServiceError | null, res: infer R) => void,
) => unknown
  ? R
  : never;

/** Calls one unary method of a generated client and resolves with its response. */
export function rpc<F extends Method>(fn: F, self: unknown, req: Parameters<F>[0]): Promise<ResponseOf<F>> {
  return new Promise((resolve, reject) =>
    fn.call(self, req, (e: grpc.ServiceError | null, res: ResponseOf<F>) => (e ? reject(e) : resolve(res))),
  );
}

/** A client of a provider listening on `127.0.0.1:port`. */
export function providerClient(port: number | string) {
  return new providerRpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

/** A stand-in for the engine: its Log service, keeping every message a provider sends. */
export async function fakeEngine(): Promise<{ address: string; logs: string[]; close(): void }> {
  const logs: string[] = [];
  const server = new grpc.Server();
  server.addService(engineRpc.EngineService as unknown as grpc.ServiceDefinition, {
    log: (call: grpc.ServerUnaryCall<{ getMessage(): string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      logs.push(call.request.getMessage());
      cb(null, new emptyPb.Empty());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  return { address: `127.0.0.1:${port}`, logs, close: () => server.forceShutdown() };
}

export { providerPb };
