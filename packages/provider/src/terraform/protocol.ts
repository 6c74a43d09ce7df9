/**
 * The protocol definitions the provider serves (proto/: tfplugin6, go-plugin's GRPCController, grpc
 * health) as a protobufjs descriptor in JSON. The build writes it once (`protocol.json` beside the
 * built modules, see scripts/bundle.ts), so a starting provider reads a small JSON file instead of
 * parsing .proto text; running from source (tests), it is made from the .proto files.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The .proto files, in proto/ of the package. */
export const PROTO_FILES = ['tfplugin6.proto', 'plugin.proto', 'health.proto'] as const;
/** The package's proto/ directory: `../../proto/` from dist/terraform, dist/bundle or src/terraform. */
export const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));
/** File name of the built descriptor, beside the module that reads it. */
export const PROTOCOL_JSON = 'protocol.json';

/** A protobufjs namespace descriptor (`Root.toJSON()`): nested namespaces, types and services. */
export interface NamespaceJson {
  nested?: Record<
    string,
    NamespaceJson & { methods?: Record<string, { requestType: string; responseType: string }> }
  >;
}

/** The descriptor from the .proto files (protobufjs parse; field names kept as written: snake_case). */
export async function protocolFromProtos(): Promise<NamespaceJson> {
  const { default: protobuf } = await import('protobufjs');
  const root = new protobuf.Root().loadSync(
    PROTO_FILES.map((f) => `${PROTO_DIR}${f}`),
    { keepCase: true },
  );
  return root.toJSON() as NamespaceJson;
}

/** The descriptor the build wrote beside `moduleUrl`, else (running from source) from the .proto files. */
export async function loadProtocolJson(moduleUrl: string): Promise<NamespaceJson> {
  try {
    return JSON.parse(readFileSync(new URL(PROTOCOL_JSON, moduleUrl), 'utf8')) as NamespaceJson;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    return protocolFromProtos();
  }
}

/** One RPC of a service: its gRPC path and its message types' full names. */
export interface MethodInfo {
  name: string;
  path: string;
  requestType: string;
  responseType: string;
}

/** The methods of service `fullName` (`tfplugin6.Provider`), with type names resolved to full names. */
export function serviceMethods(json: NamespaceJson, fullName: string): MethodInfo[] {
  const parts = fullName.split('.');
  let ns: NamespaceJson | undefined = json;
  for (const p of parts) ns = ns?.nested?.[p];
  const methods = (
    ns as { methods?: Record<string, { requestType: string; responseType: string }> } | undefined
  )?.methods;
  if (!methods) throw new Error(`protocol has no service ${fullName}`);
  const pkg = parts.slice(0, -1).join('.');
  const full = (t: string) => (t.startsWith('.') ? t.slice(1) : `${pkg}.${t}`);
  return Object.entries(methods).map(([name, m]) => ({
    name,
    path: `/${fullName}/${name}`,
    requestType: full(m.requestType),
    responseType: full(m.responseType),
  }));
}
