/**
 * The agent's HTTP API on the wire (`/v1/...`, JSON): the shapes both the agent and its clients use.
 * Resource bodies themselves are the schema's input attributes; these are the envelopes around them.
 */

/** A resource as the agent answers `GET/PUT /v1/{collection}/{id}`: what it was asked for and what it computed. */
export interface ApiRecord {
  id: string;
  type: string;
  /** The input attributes the resource was last created or updated with. */
  spec: Record<string, unknown>;
  /** Attributes the agent computed (outputs, and values of optional+computed inputs it chose). */
  status: Record<string, unknown>;
  /** The host the resource lives on (the agent's host name for itself; `local` today). */
  host?: string;
  /** Who asked for the resource: the state that should hold it (absent on records made before owners). */
  owner?: ApiOwner;
}

/**
 * The state a resource was created or imported for, as its client said (request header
 * {@link OWNER_HEADER}). The agent records it and answers it; it never reads the state itself: `stratus
 * list` does, to tell objects a state holds from orphans. Never holds credentials.
 */
export interface ApiOwner {
  /** The front end: `stratus` (CLI and SDK), `terraform` (the provider: its state is Terraform's). */
  tool: string;
  /** The stack's name. */
  stack?: string;
  /** `local` (a state file) or `postgres`. */
  backend?: string;
  /** The state file's absolute path, or a database's address with its password removed. */
  state?: string;
}

/** The request header that carries an {@link ApiOwner}: `encodeURIComponent(JSON.stringify(owner))`. */
export const OWNER_HEADER = 'stratus-owner';

/** `GET /v1/{collection}`. */
export interface ApiList {
  items: ApiRecord[];
}

/**
 * `GET /v1/{collection}/{id}/progress`: how far the create of a resource still in flight has come (an
 * image downloading from its URL). 404 when nothing of that id is in flight.
 */
export interface ApiProgress {
  /** Bytes done so far. */
  bytes: number;
  /** Bytes in all, when known (the server's Content-Length); null otherwise. */
  total: number | null;
}

/** `POST /v1/{collection}/import`: adopt an object the host has under the name the host knows it by. */
export interface ApiImportRequest {
  externalId: string;
}

/** The error body of every agent API failure. `field` is an attribute path (`networks[0].subnet`). */
export interface ApiErrorBody {
  code: string;
  message: string;
  field?: string;
  retryable?: boolean;
}

/** `GET /v1/host`: what the agent knows of its host. */
export interface ApiHostInfo {
  hostname: string;
  /** libvirt domain type guests get: `kvm`, or `qemu` (TCG) where KVM cannot run guests. */
  virtType: 'kvm' | 'qemu';
  virtReason: string;
  libvirtUri: string;
  stateDir: string;
  pid: number;
  /**
   * The agent process's memory in bytes when asked (Node's `process.memoryUsage()`): resident set,
   * V8 heap in use and reserved, and memory outside the heap (buffers, native objects). A resident set
   * far above heap and external memory is the allocator's and threads' share, not the agent's data.
   */
  memory?: { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };
  [key: string]: unknown;
}

/**
 * `GET /v1/servers/ID/password`: what the guest posted to the metadata service's password path (Nova's
 * `os-server-password`): its password encrypted with the server's first RSA SSH key (PKCS#1 v1.5) as
 * base64 text, or null when none was posted yet.
 */
export interface ApiServerPassword {
  password: string | null;
}

/** The header value of `owner`. */
export function encodeOwner(owner: ApiOwner): string {
  return encodeURIComponent(JSON.stringify(owner));
}

/**
 * The owner a header value names, or undefined when there is none or it is not an owner's shape (an
 * owner is a label: a malformed one is ignored rather than failing the request it rides on).
 */
export function decodeOwner(value: string | undefined): ApiOwner | undefined {
  if (!value || value.length > 4096) return undefined;
  try {
    const o = JSON.parse(decodeURIComponent(value)) as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || typeof o.tool !== 'string') return undefined;
    const owner: ApiOwner = { tool: o.tool };
    for (const k of ['stack', 'backend', 'state'] as const)
      if (typeof o[k] === 'string') owner[k] = o[k] as string;
    return owner;
  } catch {
    return undefined;
  }
}

/** One host prerequisite as `stratus-agent doctor` (and `stratus doctor`) report it. */
export interface DoctorCheck {
  /** What was checked: `libvirtd`, `hypervisor`, `dnsmasq`... */
  name: string;
  /** `ok`; `fail` (a required prerequisite is missing); `warn` (an optional one is). */
  status: 'ok' | 'fail' | 'warn';
  /** Whether Stratus cannot work without it. */
  required: boolean;
  /** What was found, or why it failed. */
  detail: string;
  /** What to do (when it failed, or how to get more, e.g. KVM instead of TCG). */
  fix?: string;
  /** For `hypervisor`: the domain type guests get. */
  virtType?: 'kvm' | 'qemu';
}
