import { MemoryMb, Name } from '../formats.js';
import { type AttributeProblem, defineResource } from '../resource.js';
import { Type } from '../typebox.generated.js';

/** Whether an image `source` is a URL the agent downloads (Glance's web-download), not a local file. */
export function isUrlSource(source: unknown): source is string {
  return typeof source === 'string' && /^https?:\/\//i.test(source);
}

/** Disk formats an image may have (Glance's `disk_format` values Stratus boots or converts). */
export const IMAGE_DISK_FORMATS = ['qcow2', 'raw', 'vmdk', 'vhdx', 'iso'] as const;

/** An image's expected checksum: `sha256:HEX`, `sha512:HEX`, or bare hex (64 digits sha256, 128 sha512). */
export const CHECKSUM_PATTERN = '^((sha256:)?[0-9a-f]{64}|(sha512:)?[0-9a-f]{128})$';

/** Splits a checksum attribute value into its algorithm and lower-case hex digest. */
export function parseChecksum(v: string): { algorithm: 'sha256' | 'sha512'; hex: string } {
  const hex = v.includes(':') ? v.slice(v.indexOf(':') + 1) : v;
  return { algorithm: hex.length === 128 ? 'sha512' : 'sha256', hex: hex.toLowerCase() };
}

const Choice = <T extends string>(values: readonly T[], description: string) =>
  Type.Optional(
    Type.Union(
      values.map((v) => Type.Literal(v)),
      { description },
    ),
  );

/**
 * Glance image properties that choose a guest's virtual hardware (names and meanings as Glance's
 * "useful image properties" and Nova's libvirt driver read them); a server's own fields win. Other
 * properties (any name, string values) are kept with the image and not interpreted.
 */
export const ImageProperties = Type.Object(
  {
    hw_firmware_type: Choice(['bios', 'uefi'], 'Boot firmware of servers of this image.'),
    hw_machine_type: Choice(['pc', 'q35'], 'QEMU machine type.'),
    hw_disk_bus: Choice(['virtio', 'sata', 'scsi', 'ide'], 'Bus of the root disk.'),
    hw_cdrom_bus: Choice(['sata', 'ide', 'scsi'], 'Bus of CD-ROM drives (an iso image).'),
    hw_vif_model: Choice(['virtio', 'e1000e', 'e1000', 'rtl8139'], 'NIC model.'),
    hw_video_model: Choice(['vga', 'virtio', 'qxl', 'cirrus', 'bochs', 'none'], 'Video device model.'),
    os_type: Choice(['linux', 'windows'], 'Guest operating system family.'),
    os_distro: Type.Optional(
      Type.String({
        pattern: '^[a-z0-9._-]{1,64}$',
        description: 'Distribution (libosinfo short id style).',
      }),
    ),
    hw_qemu_guest_agent: Choice(['yes', 'no'], 'Adds a virtio-serial channel for qemu-guest-agent.'),
    os_secure_boot: Choice(
      ['required', 'disabled', 'optional'],
      'UEFI Secure Boot: `required` turns it on for servers that leave secureBoot out (needs UEFI).',
    ),
    hw_tpm_version: Choice(
      ['2.0'],
      'A TPM of this version (2.0, emulated by swtpm) for servers that leave tpm out.',
    ),
  },
  {
    additionalProperties: Type.String({ maxLength: 255 }),
    updatableLive: true,
    description:
      'Glance-style properties: hw_firmware_type, hw_machine_type, hw_disk_bus, hw_cdrom_bus, hw_vif_model, ' +
      'hw_video_model, os_type, os_distro, hw_qemu_guest_agent, os_secure_boot, hw_tpm_version choose the ' +
      "hardware of its servers (a server's own fields win).",
  },
);

/** A disk image (Glance image) imported into each host's image cache. */
export const image = defineResource({
  type: 'image',
  collection: 'images',
  description:
    'A disk image (qcow2, raw, vmdk, vhdx, or an iso attached as a CD-ROM) imported from a file or an http(s) URL into the host image cache.',
  check(inputs) {
    const out: AttributeProblem[] = [];
    const p = inputs.properties as Record<string, unknown> | undefined;
    if (p && p.hw_firmware_type === 'uefi' && p.hw_machine_type === 'pc')
      out.push({
        path: ['properties', 'hw_machine_type'],
        message: 'hw_firmware_type uefi needs hw_machine_type q35 (OVMF runs with SMM)',
      });
    if (p && p.os_secure_boot === 'required' && p.hw_firmware_type === 'bios')
      out.push({
        path: ['properties', 'os_secure_boot'],
        message: 'Secure Boot needs UEFI: set hw_firmware_type uefi, or os_secure_boot disabled',
      });
    return out;
  },
  inputs: Type.Object(
    {
      name: Type.Optional(Name({ description: 'Display name.', updatableLive: true })),
      source: Type.String({
        minLength: 1,
        format: 'stratus-local-path',
        localPath: true,
        requiresReplace: true,
        description:
          'Where the image comes from: an http(s) URL the agent downloads (as Glance web-download does), or ' +
          'the path of a file read by stratus with your permissions and sent to the agent; relative paths ' +
          'are relative to the stack file.',
      }),
      checksum: Type.Optional(
        Type.String({
          pattern: CHECKSUM_PATTERN,
          formatName: 'sha256:HEX or sha512:HEX',
          computed: true,
          requiresReplace: true,
          description:
            'Expected checksum of the source bytes (`sha256:HEX`, `sha512:HEX`, or bare hex, as sha256sum ' +
            'and sha512sum print it), verified before the image is usable; when none is declared, none is ' +
            'computed (`contentChecksum` identifies the data).',
        }),
      ),
      diskFormat: Type.Optional(
        Type.Union(
          IMAGE_DISK_FORMATS.map((f) => Type.Literal(f)),
          {
            computed: true,
            requiresReplace: true,
            description:
              'Disk format (Glance disk_format); default: as qemu-img detects it. A declared format the data ' +
              'does not have is an error. vmdk and vhdx are converted to qcow2; iso is attached as a CD-ROM.',
          },
        ),
      ),
      minDiskGb: Type.Optional(
        Type.Integer({
          minimum: 0,
          maximum: 65536,
          updatableLive: true,
          description:
            'Smallest root disk (GiB) a server of this image needs (Glance min_disk); checked against the flavor.',
        }),
      ),
      minRamMb: Type.Optional(
        MemoryMb({
          updatableLive: true,
          description: 'Least memory (MiB) a server of this image needs (Glance min_ram).',
        }),
      ),
      properties: Type.Optional(ImageProperties),
    },
    { additionalProperties: false },
  ),
  outputs: Type.Object({
    format: Type.String({ description: 'Format of the cached copy (qcow2, raw; iso for CD-ROM images).' }),
    virtualSize: Type.Integer({ description: 'Virtual disk size in bytes.' }),
    sizeBytes: Type.Integer({ description: 'Size of the cached file in bytes.' }),
    status: Type.String({ description: 'active once imported.' }),
    contentChecksum: Type.Optional(
      Type.String({
        description:
          "Stratus's content checksum of the imported data (lower-case hex; not sha256sum of the file): " +
          'SHA-256 over, for each 64 KiB block that is not all zeros, its 8-byte big-endian offset and the ' +
          "SHA-256 of its bytes, then the file's 8-byte big-endian size. Holes and zero blocks do not enter " +
          'it, so it costs the data, not the apparent size, of a sparse file.',
      }),
    ),
    importedAt: Type.Optional(
      Type.String({
        description:
          'When the data was imported (ISO 8601); a local source file modified after it is hashed again at refresh.',
      }),
    ),
  }),
});
