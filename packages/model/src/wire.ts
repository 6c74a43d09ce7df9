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
}

/** `GET /v1/{collection}`. */
export interface ApiList {
  items: ApiRecord[];
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
  [key: string]: unknown;
}
