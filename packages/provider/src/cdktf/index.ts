/**
 * cdktf bindings of terraform-provider-stratus: `StratusProvider`, a construct class per registered type
 * (`Server`, `Network`, ...; extending cdktf's `TerraformResource`) and data sources (`DataImage`,
 * `DataNetwork`, `DataHost`). `new App()` + a `TerraformStack` with these, then `app.synth()` writes the
 * `cdk.tf.json` that `terraform apply` runs with the provider (examples/cdktf).
 */
export * from './classes.generated.js';
export {
  type AttributeToken,
  type AttributeTokens,
  configValue,
  DataHost,
  type DataHostAttributes,
  type DataSourceClass,
  type DataSourceConfig,
  dataSourceClass,
  dataSources,
  PROVIDER_SOURCE,
  type PropOf,
  type PropsOf,
  type ResourceClass,
  type ResourceConfig,
  type ResourceOptions,
  resourceClass,
  resources,
  StratusProvider,
  type StratusProviderConfig,
  type Tokenized,
} from './constructs.js';
