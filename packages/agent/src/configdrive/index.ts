/**
 * OpenStack-compatible config drives (`config-2` ISO) for Stratus servers.
 */
export { buildConfigDrive, CONFIG_DRIVE_LABEL, type ConfigDriveContent, configDriveFiles } from './iso.js';
export {
  ec2MetaDataJson,
  type MetaDataInput,
  metaDataJson,
  type NetworkDataNic,
  type NovaLink,
  type NovaMetaData,
  type NovaNetwork,
  type NovaNetworkData,
  type NovaRoute,
  type NovaService,
  networkDataJson,
} from './metadata.js';
