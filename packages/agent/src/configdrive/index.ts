/**
 * OpenStack-compatible config drives (`config-2` ISO) for Stratus servers.
 */
export { buildConfigDrive, CONFIG_DRIVE_LABEL } from './iso.js';
export {
  type ConfigDriveContent,
  configDriveFiles,
  EC2_METADATA_VERSIONS,
  META_DATA_KEY_SINCE,
  metaDataForVersion,
  OPENSTACK_FILE_SINCE,
  OPENSTACK_METADATA_VERSIONS,
  type OpenStackMetadataVersion,
  versionAtLeast,
} from './layout.js';
export {
  contentName,
  ec2MetaDataJson,
  type MetaDataInput,
  metaDataJson,
  type NetworkDataNic,
  type NovaFile,
  type NovaLink,
  type NovaMetaData,
  type NovaNetwork,
  type NovaNetworkData,
  type NovaRoute,
  type NovaService,
  networkDataJson,
} from './metadata.js';
