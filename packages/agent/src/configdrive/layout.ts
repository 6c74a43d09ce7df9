/**
 * The file layout of an OpenStack config drive: which metadata versions it carries and which file appears
 * in which version. The facts follow Nova (`nova/api/metadata/base.py`: `OPENSTACK_VERSIONS`, `VERSIONS`,
 * `metadata_for_config_drive`, `_metadata_as_json`, `_vendor_data2`; `nova/conf/api.py`:
 * `config_drive_skip_versions`), because guests pick a version by name and then expect Nova's files in it.
 */
import { contentName, ec2MetaDataJson } from './metadata.js';

/**
 * The dated OpenStack metadata versions Nova writes on a config drive, oldest first, each named after the
 * release that introduced it (Folsom, Grizzly, Havana, Liberty, Newton twice, Ocata, Rocky, Victoria,
 * Epoxy). Readers such as cloud-init take the newest one they know that is present, so a drive must carry
 * all of them: a reader whose list stops at 2018-08-27 must find 2018-08-27.
 */
export const OPENSTACK_METADATA_VERSIONS = [
  '2012-08-10',
  '2013-04-04',
  '2013-10-17',
  '2015-10-15',
  '2016-06-30',
  '2016-10-06',
  '2017-02-22',
  '2018-08-27',
  '2020-10-14',
  '2025-04-04',
] as const;

/** One of {@link OPENSTACK_METADATA_VERSIONS}, or `latest` (the same content as the newest). */
export type OpenStackMetadataVersion = (typeof OPENSTACK_METADATA_VERSIONS)[number] | 'latest';

/**
 * The EC2-style versions on a config drive: Nova knows 1.0 through 2009-04-04 but skips all older than
 * 2009-04-04 by default (`config_drive_skip_versions`); `latest` is 2009-04-04.
 */
export const EC2_METADATA_VERSIONS = ['2009-04-04', 'latest'] as const;

/** The first OpenStack version that has each file (Nova's `metadata_for_config_drive`). */
export const OPENSTACK_FILE_SINCE = {
  'meta_data.json': '2012-08-10',
  /** Only written when the server has user data. */
  user_data: '2012-08-10',
  'vendor_data.json': '2013-10-17',
  'network_data.json': '2015-10-15',
  'vendor_data2.json': '2016-10-06',
} as const satisfies Record<string, OpenStackMetadataVersion>;

/**
 * The first version whose `meta_data.json` has each of these keys (Nova's `_metadata_as_json`); older
 * versions leave the key out. Keys not listed are in every version.
 */
export const META_DATA_KEY_SINCE: Readonly<Record<string, OpenStackMetadataVersion>> = {
  random_seed: '2013-04-04',
  project_id: '2015-10-15',
  devices: '2016-06-30',
  dedicated_cpus: '2020-10-14',
};

/** What goes on a config drive. */
export interface ConfigDriveContent {
  /** `meta_data.json`, usually from {@link metaDataJson}; versions older than a key leave it out. */
  metaData: object;
  /** `user_data`, written verbatim (bytes for binary user data); no file when undefined. */
  userData?: string | Uint8Array;
  /** `network_data.json`, usually from {@link networkDataJson}. */
  networkData: object;
  /**
   * `vendor_data.json`, the static vendor data (default `{}`). `vendor_data2.json` carries it under the
   * key `static`, as Nova's default `StaticJSON` vendor data provider does.
   */
  vendorData?: object;
  /**
   * Contents of injected files, in the order of `meta_data.json` `files`: written to
   * `openstack/content/0000`, `0001`, ... (Nova's `CONTENT_DIR`), once, outside the versions.
   */
  content?: (string | Uint8Array)[];
}

/** True when `version` is `since` or newer (`latest` is newer than every dated version). */
export function versionAtLeast(version: OpenStackMetadataVersion, since: OpenStackMetadataVersion): boolean {
  const rank = (v: OpenStackMetadataVersion) =>
    v === 'latest' ? OPENSTACK_METADATA_VERSIONS.length : OPENSTACK_METADATA_VERSIONS.indexOf(v);
  return rank(version) >= rank(since);
}

/** `meta_data.json` as `version` shows it: without the keys introduced after that version. */
export function metaDataForVersion(metaData: object, version: OpenStackMetadataVersion): object {
  return Object.fromEntries(
    Object.entries(metaData).filter(([key]) => {
      const since = META_DATA_KEY_SINCE[key];
      return since === undefined || versionAtLeast(version, since);
    }),
  );
}

/**
 * Relative path and content of every file of a config drive, in Nova's order: the EC2 versions, then each
 * OpenStack version oldest first and `latest` last, each with every file from the version that introduced
 * it on, then the injected files' contents under `openstack/content/`. There is no `password` file: Nova serves it from the metadata service only.
 */
export function configDriveFiles(content: ConfigDriveContent): [string, string | Uint8Array][] {
  const json = (v: unknown) => `${JSON.stringify(v)}\n`;
  const files: [string, string | Uint8Array][] = [];
  const ec2MetaData = json(ec2MetaDataJson(content.metaData));
  for (const version of EC2_METADATA_VERSIONS) {
    if (content.userData !== undefined) files.push([`ec2/${version}/user-data`, content.userData]);
    files.push([`ec2/${version}/meta-data.json`, ec2MetaData]);
  }
  const vendorData = content.vendorData ?? {};
  const byFile: Record<
    keyof typeof OPENSTACK_FILE_SINCE,
    (v: OpenStackMetadataVersion) => string | Uint8Array | undefined
  > = {
    'meta_data.json': (v) => json(metaDataForVersion(content.metaData, v)),
    user_data: () => content.userData,
    'vendor_data.json': () => json(vendorData),
    'network_data.json': () => json(content.networkData),
    'vendor_data2.json': () => json({ static: vendorData }),
  };
  const versions: OpenStackMetadataVersion[] = [...OPENSTACK_METADATA_VERSIONS, 'latest'];
  for (const version of versions) {
    for (const [name, since] of Object.entries(OPENSTACK_FILE_SINCE) as [
      keyof typeof OPENSTACK_FILE_SINCE,
      OpenStackMetadataVersion,
    ][]) {
      if (!versionAtLeast(version, since)) continue;
      const data = byFile[name](version);
      if (data !== undefined) files.push([`openstack/${version}/${name}`, data]);
    }
  }
  // After the versions, as Nova's metadata_for_config_drive yields them.
  for (const [i, data] of (content.content ?? []).entries())
    files.push([`openstack/content/${contentName(i)}`, data]);
  return files;
}
