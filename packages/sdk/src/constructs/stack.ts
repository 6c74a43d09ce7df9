import type { SourceRange } from '../diagnostics/index.js';
import { BRAND, hasBrand } from './brand.js';
import { callerOf } from './location.js';
import type { Resource } from './resource.js';
import type { AnyToken } from './token.js';

/** A value a stack output may hold: JSON, with tokens and resources (their ids) anywhere inside. */
export type OutputValue =
  | string
  | number
  | boolean
  | null
  | AnyToken
  | Resource
  | readonly OutputValue[]
  | { readonly [k: string]: OutputValue };

/** Options of {@link Stack.output}. */
export interface OutputOptions {
  /** Redact the value in plan output, show and logs. */
  sensitive?: boolean;
  description?: string;
}

/** An output as declared, with where `stack.output(...)` was called. */
export interface OutputDeclaration extends OutputOptions {
  name: string;
  value: OutputValue;
  location: SourceRange | undefined;
}

/**
 * A stack declared in a TypeScript program: the resources constructed with it and its outputs. A
 * program's default export is a Stack (or a function returning one); see `loadProgram`.
 */
export class Stack {
  readonly [BRAND] = 'stack' as const;
  /** Resources in declaration order; constructing a resource adds it here. */
  readonly resources: readonly Resource[] = [];
  readonly outputs: readonly OutputDeclaration[] = [];
  /** Where `new Stack()` was called: relative paths resolve against its directory unless told otherwise. */
  readonly location: SourceRange | undefined;

  /** `name` defaults to the name of the program's directory, as a stack file's does. */
  constructor(readonly name?: string) {
    this.location = callerOf(new.target);
  }

  /** Declares an output: `stack.output('web_ip', web.attrs.accessIpV4, { description: '...' })`. */
  output(name: string, value: OutputValue, options: OutputOptions = {}): void {
    (this.outputs as OutputDeclaration[]).push({ ...options, name, value, location: callerOf(this.output) });
  }
}

/** Whether `v` is a Stack, also one made by another copy of this package (see brand.ts). */
export function isStack(v: unknown): v is Stack {
  return hasBrand(v, 'stack');
}
