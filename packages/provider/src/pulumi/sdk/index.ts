/**
 * The Stratus SDK for Pulumi programs (`@stratus/provider/pulumi`): a `pulumi.CustomResource` class per
 * registered type (`new stratus.Server("web", {...})`), their `Args` (of `pulumi.Input`s) and object
 * types, and the `Provider` resource. Generated at build time from the package schema
 * `pulumi-resource-stratus` serves (scripts/pulumi-sdk.ts, ../codegen.ts); the engine runs that plugin
 * for the resources' operations. Example: examples/pulumi.
 */
export * from './resources.generated.js';
