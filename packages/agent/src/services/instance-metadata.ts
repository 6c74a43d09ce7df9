/**
 * An instance's metadata documents (Nova's meta_data.json, user data, network_data.json), built from the
 * records in one place for both ways a guest reads them: the config drive the server service writes, and
 * the metadata service, which finds the instance behind a source address here.
 */
import { hostnameFromName, type InputsOf, netbiosHostname, type server } from '@stratus/model';
import type { OsType } from '../compute/types.js';
import type { ConfigDriveContent } from '../configdrive/index.js';
import { metaDataJson, networkDataJson } from '../configdrive/index.js';
import { InvalidReference } from '../errors.js';
import type { MetadataOwner } from '../metadata/service.js';
import { assertReference } from './base.js';
import { guestImageOf } from './boot.js';
import type { AgentContext } from './context.js';
import { hardwareOf } from './hardware.js';
import type { KeypairRecord } from './keypair.js';
import type { NetworkRecord, PortRecord, ServerRecord, SubnetRecord } from './records.js';

type ServerSpec = InputsOf<typeof server>;

/**
 * The guest host name: `hostname`, else one derived from the name by the model's rule, else
 * `server-<id>`; for a Windows guest (`osType` windows) made NetBIOS-safe ({@link netbiosHostname}), so
 * the name DHCP, the config drive and the metadata service hand out is the one the guest takes.
 */
export function hostnameFor(spec: ServerSpec, id: string, osType: OsType = 'linux'): string {
  const h = spec.hostname || hostnameFromName(spec.name ?? '') || `server-${id.slice(0, 8)}`;
  return osType === 'windows' ? netbiosHostname(h, id) : h;
}

/**
 * The guest OS family of server `spec` (its image's and its own, by {@link hardwareOf}; a server
 * installing from an ISO has the installer, one booting from a volume the volume's source image, where
 * others have their image); linux without an image.
 */
export async function osTypeOf(ctx: AgentContext, spec: ServerSpec): Promise<OsType> {
  const image = await guestImageOf(ctx, spec);
  return image ? (hardwareOf(spec, image).osType ?? 'linux') : (spec.osType ?? 'linux');
}

/** The SSH keys of a server: `publicKeys`, plus the key pair's key under its name (Nova's key_name). */
export async function publicKeysOf(ctx: AgentContext, spec: ServerSpec): Promise<Record<string, string>> {
  if (!spec.keyPair) return spec.publicKeys;
  const kp = (await assertReference(ctx, 'keypairs', spec.keyPair, ['keyPair'])) as KeypairRecord;
  const key = kp.spec.publicKey ?? kp.status.publicKey;
  if (!key) throw new InvalidReference(`keypair ${spec.keyPair} has no public key`, { field: ['keyPair'] });
  return { ...spec.publicKeys, [kp.spec.name ?? kp.id]: key };
}

/** The documents of server `rec` with NICs `ports` (in order) and guest host name `hostname`. */
export async function instanceDocuments(
  ctx: AgentContext,
  rec: ServerRecord,
  ports: PortRecord[],
  hostname: string,
): Promise<ConfigDriveContent> {
  const { id, spec } = rec;
  const nics = [];
  for (const p of ports) {
    const s = (await ctx.store.get<SubnetRecord>('subnets', p.spec.subnet))!;
    const n = await ctx.store.get<NetworkRecord>('networks', p.spec.network);
    nics.push({
      mac: p.status.mac,
      ip: p.status.ip,
      cidr: s.spec.cidr,
      gateway: s.status.gatewayIp ?? null,
      dnsNameservers: s.spec.dnsNameservers,
      routes: s.spec.hostRoutes ?? [],
      networkId: p.spec.network,
      mtu: n?.spec.mtu ?? 1500,
    });
  }
  return {
    metaData: metaDataJson({
      uuid: id,
      name: spec.name ?? id,
      hostname,
      publicKeys: await publicKeysOf(ctx, spec),
      adminPass: spec.adminPass,
      meta: spec.metadata ?? {},
      files: Object.keys(spec.personality ?? {}),
    }),
    content: Object.values(spec.personality ?? {}),
    // Binary user data comes base64-encoded and goes to the guest as its bytes.
    userData: spec.userDataBase64 !== undefined ? Buffer.from(spec.userDataBase64, 'base64') : spec.userData,
    networkData: networkDataJson(nics),
  };
}

/**
 * The documents of the instance whose port on `owner`'s network has address `sourceIp`, or null when
 * none has (a DHCP port, an address no port holds, a server still being built or deleted). Routers are
 * not served yet: their namespaces get a scope of their own when they do.
 */
export async function resolveInstance(
  ctx: AgentContext,
  owner: MetadataOwner,
  sourceIp: string,
): Promise<ConfigDriveContent | null> {
  if (!('network' in owner)) return null;
  const ports = await ctx.store.list<PortRecord>('ports');
  const port = ports.find(
    (p) => p.spec.network === owner.network && p.status.ip === sourceIp && p.spec.deviceOwner === 'compute',
  );
  if (!port) return null;
  const rec = await ctx.store.get<ServerRecord>('servers', port.spec.deviceId);
  if (!rec) return null;
  const nics = ports
    .filter((p) => p.spec.deviceOwner === 'compute' && p.spec.deviceId === rec.id)
    .sort((a, b) => a.spec.index - b.spec.index);
  return instanceDocuments(ctx, rec, nics, hostnameFor(rec.spec, rec.id, await osTypeOf(ctx, rec.spec)));
}
