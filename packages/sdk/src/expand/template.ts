/**
 * A stack as declared, before expansion: variables, locals, resources that may carry `count` or
 * `forEach`, and values that are expressions. Front-end independent (a stack file makes one today; a
 * Heat template's parameters will map onto the same variables). expand.ts turns it, with the
 * variables' values, into the engine's StackConfig of resource instances.
 */
import type { ResourceType } from '@stratus/model';
import type { SourceRange } from '../diagnostics/index.js';
import type { BackendConfig, Lifecycle, Locator, Timeouts } from '../engine/config.js';
import type { Expr } from './syntax.js';
import type { VariableBlock } from './variables.js';

/** An expression with the string it was parsed from and a way to find any offset of it in the source. */
export class SourceExpr {
  constructor(
    readonly expr: Expr,
    readonly text: string,
    /** Where offset `at` of `text` is in the source file. */
    readonly locate: (at: number) => SourceRange | undefined,
  ) {}
}

/** A declared value: JSON whose strings are expressions (a string without `${` is kept as it is). */
export type Tree = SourceExpr | string | null | boolean | number | Tree[] | { [k: string]: Tree };

/** A resource as declared: once, or repeated by `count` or `forEach`. */
export interface ResourceBlock {
  name: string;
  type: ResourceType;
  count?: SourceExpr;
  forEach?: SourceExpr;
  properties: Record<string, Tree>;
  dependsOn: string[];
  lifecycle: Lifecycle;
  timeouts: Timeouts;
  /** Where things inside the declaration were written (relative to it, as ResourceConfig.locate). */
  locate: Locator;
}

/** A declared output. */
export interface OutputBlock {
  name: string;
  value: Tree;
  sensitive: boolean;
  description?: string;
  locate: Locator;
}

/** A stack before expansion. */
export interface StackTemplate {
  name: string;
  file: string;
  dir: string;
  inputs?: string[];
  variables: VariableBlock[];
  /** `local.NAME` values, in declaration order. */
  locals: Map<string, Tree>;
  resources: Map<string, ResourceBlock>;
  /** Resources declared but not loadable (already reported). */
  invalid: Set<string>;
  outputs: Map<string, OutputBlock>;
  backend?: BackendConfig;
}
