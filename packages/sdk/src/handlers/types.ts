import type { ResourceSchema, ResourceType } from '@stratus/model';
import type { AgentClient } from '../client/index.js';
import type { Value } from '../engine/expr.js';
import type { PropertyProblem } from '../engine/normalize.js';

/** Attribute values of a resource as recorded in state: inputs and outputs. */
export type Attributes = Record<string, unknown>;

/** What every handler call gets: how to reach the agent of the resource's host. */
export interface HandlerContext {
  client: AgentClient;
}

export interface ValidateRequest {
  /** Properties after defaults; values not known yet are references. */
  properties: Record<string, Value>;
}
export interface ValidateResponse {
  problems: PropertyProblem[];
}
export interface CreateRequest {
  id: string;
  inputs: Attributes;
}
export interface UpdateRequest {
  id: string;
  prior: Attributes;
  inputs: Attributes;
}
export interface ReadRequest {
  id: string;
  prior?: Attributes;
}
export interface DeleteRequest {
  id: string;
  prior: Attributes;
}
/** Attributes as the agent reports them, or null when the resource no longer exists. */
export interface ReadResponse {
  attributes: Attributes | null;
}
export interface ApplyResponse {
  attributes: Attributes;
}

/**
 * The provider seam: one handler per resource type. The engine, the Terraform provider and the Pulumi
 * provider all call these, so every front end behaves the same. Handlers talk only to the agent.
 * Failures of create/update/read/delete are thrown as AgentApiError (they are not user input errors).
 */
export interface ResourceHandler {
  readonly type: ResourceType;
  readonly schema: ResourceSchema;
  validate(req: ValidateRequest): ValidateResponse;
  create(ctx: HandlerContext, req: CreateRequest): Promise<ApplyResponse>;
  read(ctx: HandlerContext, req: ReadRequest): Promise<ReadResponse>;
  update(ctx: HandlerContext, req: UpdateRequest): Promise<ApplyResponse>;
  delete(ctx: HandlerContext, req: DeleteRequest): Promise<void>;
  /**
   * Whether attributes just read show the object was changed outside Stratus in a way an update
   * repairs (a stopped or vanished domain, a deleted bridge); says what, in words.
   */
  drift?(attributes: Attributes): string | undefined;
  /** Adopts an object that exists on the host but not in state (e.g. a domain made with virsh). */
  import?(ctx: HandlerContext, req: ImportRequest): Promise<ImportResponse>;
}

export interface ImportRequest {
  /** How the host knows the object: a libvirt domain name or UUID, a bridge name, an image file path. */
  externalId: string;
}
export interface ImportResponse {
  /** The Stratus id the agent now knows the object by. */
  id: string;
  attributes: Attributes;
}

/** Handlers by resource type. */
export type HandlerSet = Record<ResourceType, ResourceHandler>;
