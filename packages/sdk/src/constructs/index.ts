/** Constructs: stacks declared as TypeScript programs, typed from the resource schemas. */
export * from './classes.generated.js';
export * from './resource.js';
export * from './resources.js';
export * from './stack.js';
export * from './synth.js';
export * from './token.js';
