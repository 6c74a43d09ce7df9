/**
 * What the metadata service answers for a path, as a pure function of an instance's documents: the same
 * {@link ConfigDriveContent} the config drive is written from, laid out by {@link configDriveFiles}, so
 * the drive and the service can never disagree. The URL layout follows Nova's metadata API
 * (`nova/api/metadata/base.py`, `handler.py`), which cloud-init's OpenStack datasource
 * (`sources/helpers/openstack.py`, `MetadataReader`) and EC2 datasource (`ec2.get_instance_metadata`,
 * `MetadataMaterializer`) read:
 *
 * - `/openstack` lists the OpenStack versions (newline-separated); `/openstack/<v>` the files of one;
 *   `/openstack/<v>/<file>` is the file (`meta_data.json`, `user_data`, `network_data.json`,
 *   `vendor_data.json`, `vendor_data2.json` in the versions that have them).
 * - `/` lists the EC2 versions; `/<v>` lists `meta-data/` and `user-data`; `/<v>/user-data` is the user
 *   data; `/<v>/meta-data/...` walks the EC2 meta-data document: a directory lists its keys (`key/` for a
 *   subtree; a subtree with a `_name` is listed by that name, as `public-keys/` lists `0=keyname`), a
 *   leaf is its value.
 *
 * - `/openstack/content/<NNNN>` is an injected file's contents (meta_data.json `files`, `content_path`).
 * - `/openstack/<v>/password` (from 2013-04-04) is listed here but answered by the service, which keeps
 *   the state it needs (password.ts).
 *
 * The metadata service leaves out `admin_pass` (as Nova's does: any process in the guest can read the
 * service, while the drive needs root to mount); the model refuses `adminPass` without a config drive.
 */
import {
  type ConfigDriveContent,
  configDriveFiles,
  EC2_METADATA_VERSIONS,
  OPENSTACK_METADATA_VERSIONS,
} from '../configdrive/index.js';
import { isPasswordPath } from './password.js';

/** An answer of the metadata service: status, content type and body. */
export interface MetadataResponse {
  status: 200 | 404;
  contentType: string;
  body: string | Uint8Array;
}

const TEXT = 'text/plain; charset=utf-8';
const NOT_FOUND: MetadataResponse = { status: 404, contentType: TEXT, body: '404 Not Found\n' };
const text = (body: string): MetadataResponse => ({ status: 200, contentType: TEXT, body });

/** Nova's `ec2_md_print`: a directory as its keys (`key/` for a subtree, or the subtree's `_name`), a leaf as its value. */
function ec2Print(node: unknown): string {
  if (node !== null && typeof node === 'object' && !Array.isArray(node)) {
    const o = node as Record<string, unknown>;
    return Object.keys(o)
      .filter((k) => k !== '_name' && o[k] !== undefined)
      .sort()
      .map((k) => {
        const v = o[k];
        if (v !== null && typeof v === 'object' && !Array.isArray(v))
          return typeof (v as Record<string, unknown>)._name === 'string'
            ? String((v as Record<string, unknown>)._name)
            : `${k}/`;
        return k;
      })
      .join('\n');
  }
  if (Array.isArray(node)) return node.map(String).join('\n');
  return String(node);
}

/**
 * The instance's metadata tree: answers a request path (with or without a trailing slash; a query string
 * is the caller's to strip) from `content`. Paths outside the tree are 404.
 */
export class MetadataTree {
  private readonly files = new Map<string, string | Uint8Array>();
  private readonly ec2: Map<string, unknown>;

  constructor(content: ConfigDriveContent) {
    // One source of truth: the config drive's own files, without the secret the service must not serve.
    const { admin_pass: _secret, ...metaData } = content.metaData as Record<string, unknown>;
    for (const [path, data] of configDriveFiles({ ...content, metaData })) this.files.set(path, data);
    this.ec2 = new Map(
      EC2_METADATA_VERSIONS.map((v) => {
        const doc = this.files.get(`ec2/${v}/meta-data.json`);
        return [v, JSON.parse(Buffer.from(doc ?? '{}').toString('utf8')) as unknown];
      }),
    );
  }

  /** The answer for `path` (e.g. `/openstack/latest/meta_data.json`, `/latest/meta-data/hostname`). */
  get(path: string): MetadataResponse {
    const parts = path.split('/').filter((p) => p !== '');
    if (parts.some((p) => p === '.' || p === '..')) return NOT_FOUND;
    if (parts[0] === 'openstack') return this.openstack(parts.slice(1));
    if (parts.length === 0) return text(`${EC2_METADATA_VERSIONS.join('\n')}\n`);
    return this.ec2Path(parts[0]!, parts.slice(1));
  }

  private openstack(parts: string[]): MetadataResponse {
    const versions = [...OPENSTACK_METADATA_VERSIONS, 'latest'];
    if (parts.length === 0) return text(`${versions.join('\n')}\n`);
    // Injected files' contents (`content_path` of meta_data.json `files`), outside the versions.
    if (parts[0] === 'content' && parts.length === 2) {
      const data = this.files.get(`openstack/content/${parts[1]}`);
      return data === undefined
        ? NOT_FOUND
        : { status: 200, contentType: 'application/octet-stream', body: data };
    }
    const [version, file, ...rest] = parts;
    if (!versions.includes(version!) || rest.length > 0) return NOT_FOUND;
    const prefix = `openstack/${version}/`;
    if (file === undefined) {
      const names = [...this.files.keys()]
        .filter((p) => p.startsWith(prefix))
        .map((p) => p.slice(prefix.length));
      // The password path (served by the service, see password.ts) is listed from the version that has it.
      if (isPasswordPath(['openstack', version!, 'password'])) names.splice(1, 0, 'password');
      return text(`${names.join('\n')}\n`);
    }
    const data = this.files.get(prefix + file);
    if (data === undefined) return NOT_FOUND;
    return {
      status: 200,
      contentType: file.endsWith('.json') ? 'application/json' : 'application/octet-stream',
      body: data,
    };
  }

  private ec2Path(version: string, parts: string[]): MetadataResponse {
    const doc = this.ec2.get(version);
    if (doc === undefined) return NOT_FOUND;
    const userData = this.files.get(`ec2/${version}/user-data`);
    if (parts.length === 0) return text(userData === undefined ? 'meta-data/\n' : 'meta-data/\nuser-data\n');
    if (parts[0] === 'user-data' && parts.length === 1)
      return userData === undefined
        ? NOT_FOUND
        : { status: 200, contentType: 'application/octet-stream', body: userData };
    if (parts[0] !== 'meta-data') return NOT_FOUND;
    let node: unknown = doc;
    for (const key of parts.slice(1)) {
      if (node === null || typeof node !== 'object' || Array.isArray(node) || key === '_name')
        return NOT_FOUND;
      // Own keys only: `constructor` and friends are no metadata.
      if (!Object.hasOwn(node, key)) return NOT_FOUND;
      node = (node as Record<string, unknown>)[key];
      if (node === undefined) return NOT_FOUND;
    }
    return text(ec2Print(node));
  }
}
