/**
 * OS::Nova::Server `block_device_mapping_v2` and `block_device_mapping` (the legacy form) onto Stratus:
 * the boot entry becomes the server's `bootVolume`, data volumes become volume attachments, as Nova
 * reads them (nova/block_device.py, Heat's server.py `_build_block_device_mapping_v2`):
 *
 * - `{boot_index: 0, volume_id: V}` boots from volume V (source and destination volume);
 * - `{boot_index: 0, image: I, volume_size: N}` (source image, destination volume) boots from a new
 *   volume made from I, of N GiB: the loader adds it as a volume resource named after the server
 *   (`<server>_boot_volume`), a copy-on-write clone of the image;
 * - an entry with `volume_id` and no boot_index (or -1, or another index: Stratus boots the root disk
 *   only) attaches V (a volume attachment named `<server>_bdm_<i>`, at `device_name` when given);
 * - legacy `{device_name: vda, volume_id: V}` boots from V; another device name attaches V there.
 *
 * Snapshots, swap and ephemeral disks, blank volumes and images that are not boot disks are not
 * Stratus objects: each is an error naming its key at its line and column.
 */
import { Call, Ref, type Value } from '../../engine/expr.js';
import { isPlainMap } from './common.js';
import type { MapContext } from './types.js';

/** Keys of a block_device_mapping_v2 entry (Heat's schema) Stratus cannot honour, with why. */
const UNSUPPORTED_V2: Record<string, string> = {
  snapshot_id: 'booting from or attaching a volume snapshot is not supported: Stratus has no snapshots',
  swap_size: 'Stratus servers have no swap disk',
  ephemeral_size: 'Stratus servers have no ephemeral disk',
  ephemeral_format: 'Stratus servers have no ephemeral disk',
};

/** Keys of a block_device_mapping_v2 entry Stratus reads. */
const KNOWN_V2 = [
  'boot_index',
  'volume_id',
  'image',
  'image_id',
  'volume_size',
  'delete_on_termination',
  'device_name',
  'device_type',
  'disk_bus',
  ...Object.keys(UNSUPPORTED_V2),
];

/** Keys of a legacy block_device_mapping entry (Heat's schema). */
const KNOWN_V1 = ['device_name', 'volume_id', 'snapshot_id', 'volume_size', 'delete_on_termination'];

/** A boot_index as Heat takes it (an integer, or its text); undefined when left out. */
function bootIndex(v: Value | undefined): number | undefined | 'bad' {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
  return 'bad';
}

/** `vdc` of `/dev/vdc` or `vdc`; other values pass as they are (the attachment's schema checks them). */
const deviceOf = (v: Value): Value => (typeof v === 'string' ? v.replace(/^\/dev\//, '') : v);

/** What the mapping of one server collects: its boot volume, and the resources to add beside it. */
interface Mapped {
  bootAt?: (string | number)[];
}

/** Attaches volume `volumeId` (a Heat value) to the server, at `device` when given. */
function attach(
  ctx: MapContext,
  path: (string | number)[],
  i: number,
  volumeId: Value,
  device: Value | undefined,
): void {
  const volume = ctx.lookup('volume', volumeId, [...path, 'volume_id']);
  if (volume === undefined) return;
  ctx.addResource(
    'volume_attachment',
    `bdm_${i}`,
    {
      server: ctx.self(),
      volume,
      ...(device !== undefined && device !== null ? { device: deviceOf(device) } : {}),
    },
    path,
  );
}

/** The boot entry: sets `bootVolume` (adding the volume made from an image, for source image). */
function boot(
  e: Record<string, Value>,
  out: Record<string, Value>,
  ctx: MapContext,
  path: (string | number)[],
  seen: Mapped,
): void {
  if (seen.bootAt) {
    ctx.error(
      `a second boot device (boot_index 0 is already at ${seen.bootAt.join('.')}): a server has one root disk`,
      [...path, 'boot_index'],
    );
    return;
  }
  seen.bootAt = path;
  const image = e.image ?? e.image_id;
  const imageKey = e.image !== undefined ? 'image' : 'image_id';
  if (e.volume_id !== undefined && image !== undefined) {
    ctx.error('give volume_id or image, not both: a boot device has one source', [...path, imageKey]);
    return;
  }
  if (e.volume_id !== undefined) {
    const v = ctx.lookup('volume', e.volume_id, [...path, 'volume_id']);
    if (v !== undefined) out.bootVolume = v;
    return;
  }
  if (image === undefined) {
    ctx.error(
      'the boot device needs volume_id (boot from that volume) or image with volume_size (boot from a new volume made from the image)',
      path,
    );
    return;
  }
  if (e.volume_size === undefined) {
    ctx.error(
      "needs volume_size: the size in GiB of the volume made from the image (Nova's source image, destination volume)",
      [...path, imageKey],
    );
    return;
  }
  const img = ctx.lookup('image', image, [...path, imageKey]);
  if (img === undefined) return;
  if (e.delete_on_termination === false || e.delete_on_termination === 'false')
    ctx.warn(
      `the volume made from the image is a resource of this stack (${ctx.extraName('boot_volume')}): it outlives a replacement of the server, and is deleted when the server leaves the template or the stack is destroyed. To keep it, declare an OS::Cinder::Volume with deletion_policy: Retain and boot from its volume_id`,
      [...path, 'delete_on_termination'],
    );
  out.bootVolume = ctx.addResource('volume', 'boot_volume', { sizeGb: e.volume_size, image: img }, path);
}

/**
 * OS::Nova::Server `block_device_mapping_v2` -> `bootVolume` and volume attachments (see the module
 * comment). Reports every entry and key Stratus cannot honour at its path.
 */
export function blockDeviceMappingV2(
  v: Value,
  out: Record<string, Value>,
  ctx: MapContext,
  path: (string | number)[],
): void {
  if (!Array.isArray(v)) {
    if (v instanceof Ref || v instanceof Call)
      ctx.error('must be a list known when the template is loaded', path);
    else ctx.error('must be a list of block device mappings', path);
    return;
  }
  const seen: Mapped = {};
  v.forEach((e, i) => {
    const at = [...path, i];
    if (!isPlainMap(e)) {
      ctx.error('must be a mapping (boot_index, volume_id or image, volume_size...)', at);
      return;
    }
    let ok = true;
    for (const [k, x] of Object.entries(e)) {
      if (x === null) continue;
      const why = UNSUPPORTED_V2[k];
      if (why) {
        ok = false;
        ctx.error(`${k}: ${why}`, [...at, k]);
      } else if (!KNOWN_V2.includes(k)) {
        ok = false;
        ctx.error(`unknown key ${k} of a block device mapping (known: ${KNOWN_V2.join(', ')})`, [...at, k]);
      } else if (k === 'device_type' && x !== 'disk') {
        ok = false;
        ctx.error(`device_type ${String(x)} is not supported: Stratus maps volumes as disks`, [...at, k]);
      } else if (k === 'disk_bus')
        ctx.warn(
          "ignored: the guest profile chooses the bus (an image's hw_disk_bus sets it for the root disk; volumes attach as virtio)",
          [...at, k],
        );
    }
    if (!ok) return;
    const idx = bootIndex(e.boot_index);
    if (idx === 'bad') {
      ctx.error('must be an integer (0 for the boot device, -1 or left out for a data volume)', [
        ...at,
        'boot_index',
      ]);
      return;
    }
    if (idx === 0) {
      boot(e, out, ctx, at, seen);
      return;
    }
    const image = e.image ?? e.image_id;
    if (image !== undefined) {
      ctx.error(
        'an image is only a boot device here (boot_index 0): for a data volume made from an image, declare an OS::Cinder::Volume with image and give its volume_id',
        [...at, e.image !== undefined ? 'image' : 'image_id'],
      );
      return;
    }
    if (e.volume_id === undefined) {
      ctx.error(
        'a data volume needs volume_id: blank volumes are not made here; declare an OS::Cinder::Volume and give its volume_id',
        at,
      );
      return;
    }
    attach(ctx, at, i, e.volume_id, e.device_name);
  });
}

/**
 * OS::Nova::Server `block_device_mapping` (legacy: `device_name`, `volume_id`): the entry at the root
 * device (vda) is the boot volume, the others are attached at their device names.
 */
export function blockDeviceMapping(
  v: Value,
  out: Record<string, Value>,
  ctx: MapContext,
  path: (string | number)[],
): void {
  if (!Array.isArray(v)) {
    ctx.error('must be a list of block device mappings (device_name, volume_id)', path);
    return;
  }
  const seen: Mapped = {};
  v.forEach((e, i) => {
    const at = [...path, i];
    if (!isPlainMap(e)) {
      ctx.error('must be a mapping (device_name, volume_id)', at);
      return;
    }
    let ok = true;
    for (const [k, x] of Object.entries(e)) {
      if (x === null) continue;
      if (k === 'snapshot_id') {
        ok = false;
        ctx.error(`${k}: ${UNSUPPORTED_V2.snapshot_id}`, [...at, k]);
      } else if (!KNOWN_V1.includes(k)) {
        ok = false;
        ctx.error(`unknown key ${k} of a block device mapping (known: ${KNOWN_V1.join(', ')})`, [...at, k]);
      } else if (k === 'volume_size')
        ctx.warn("ignored: an existing volume keeps its own size (grow it with the volume's size)", [
          ...at,
          k,
        ]);
    }
    if (!ok) return;
    if (e.volume_id === undefined) {
      ctx.error('needs volume_id (the volume to boot from or attach)', at);
      return;
    }
    const device = e.device_name;
    if (device === undefined) {
      ctx.error('needs device_name (vda for the boot volume, vdc..vdz for a data volume)', at);
      return;
    }
    if (deviceOf(device) === 'vda') {
      if (seen.bootAt) {
        ctx.error('a second mapping at vda: a server has one root disk', [...at, 'device_name']);
        return;
      }
      seen.bootAt = at;
      const vol = ctx.lookup('volume', e.volume_id, [...at, 'volume_id']);
      if (vol !== undefined) out.bootVolume = vol;
      return;
    }
    attach(ctx, at, i, e.volume_id, device);
  });
}
