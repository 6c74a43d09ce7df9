import {
  Defaulted,
  Duration,
  Hostname,
  Ipv4,
  KeyedMap,
  METADATA_KEY,
  MemoryMb,
  Name,
  PublicKey,
  Ref,
  UserData,
  UserDataBase64,
  Vcpus,
  WaitFor,
} from '../formats.js';
import { INJECTED_PATH_PATTERN, injectedPathProblem, MAX_INJECTED_PATH_LENGTH } from '../guest-path.js';
import { hostnameFromName, hostnameProblem } from '../host-text.js';
import { type AttributeProblem, defineResource } from '../resource.js';
import { Type } from '../typebox.generated.js';
import { isUnknown, UNKNOWN } from '../unknown.js';
import { DEFAULT_WAIT_TIMEOUT } from '../wait.js';
import { checkInstall, INSTALL_INPUTS, INSTALL_OUTPUTS, planInstall } from './server-install.js';

/** Server statuses that mean its domain was changed outside Stratus; an update (the agent's ensure) repairs them. */
const DRIFT: Record<string, string> = {
  MISSING: 'its libvirt domain was deleted outside Stratus',
  SHUTOFF: 'its libvirt domain was stopped outside Stratus',
  PAUSED: 'its libvirt domain was paused outside Stratus',
  ERROR: 'its libvirt domain crashed',
};

/**
 * The machine type a server gets when it names none: q35 for UEFI (OVMF is run with SMM, which needs
 * q35) and for Windows guests, else pc. UNKNOWN while the firmware is; undefined when the firmware is left
 * out (the image decides it, and the agent reports the machine it chose).
 */
export function defaultMachine(firmware: 'bios' | 'uefi', osType?: 'linux' | 'windows'): 'pc' | 'q35';
export function defaultMachine(
  firmware: unknown,
  osType?: unknown,
): 'pc' | 'q35' | typeof UNKNOWN | undefined;
export function defaultMachine(
  firmware: unknown,
  osType?: unknown,
): 'pc' | 'q35' | typeof UNKNOWN | undefined {
  if (osType === 'windows' || firmware === 'uefi') return 'q35';
  if (isUnknown(firmware) || isUnknown(osType)) return UNKNOWN;
  // Left out, the firmware (and so the machine) comes from the image: the agent chooses and reports it.
  if (firmware === undefined) return undefined;
  return 'pc';
}

/**
 * Problems of a server's boot volume (`bootVolume`): it is the root disk, so it excludes the other root
 * sources, `image` and `installMedia` (Nova refuses a boot_index 0 volume beside an imageRef other than
 * the volume's own).
 */
export function checkBootVolume(inputs: Readonly<Record<string, unknown>>): AttributeProblem[] {
  if (inputs.bootVolume === undefined) return [];
  const out: AttributeProblem[] = [];
  if (inputs.image !== undefined)
    out.push({
      path: ['bootVolume'],
      message:
        'conflicts with image: a server boots from an image (an overlay of it) or from a volume; set one of them',
    });
  if (inputs.installMedia !== undefined)
    out.push({
      path: ['bootVolume'],
      message:
        'conflicts with installMedia: a server installs from an ISO onto a blank disk of its own, or boots from a volume; set one of them',
    });
  return out;
}

/** A server's size when it names no flavor and leaves vcpus or memoryMb out. */
export const DEFAULT_SIZE = { vcpus: 1, memoryMb: 256 } as const;

export const server = defineResource({
  type: 'server',
  // 2: `configDrive` (state from version 1 had a drive).
  version: 2,
  upgrade(attributes, fromVersion) {
    return fromVersion < 2 && attributes.configDrive === undefined
      ? { ...attributes, configDrive: true }
      : attributes;
  },
  timeouts: { create: 600_000, update: 600_000 },
  check(inputs) {
    const out: AttributeProblem[] = [];
    if (inputs.firmware === 'uefi' && inputs.machine === 'pc')
      out.push({
        path: ['machine'],
        message:
          'firmware uefi cannot run on machine pc (OVMF runs with SMM, which needs q35): use q35 or leave machine out',
      });
    // Secure Boot is a UEFI feature; the image's firmware is checked with the image (engine/check-images).
    if (inputs.secureBoot === true && inputs.firmware === 'bios')
      out.push({
        path: ['secureBoot'],
        message: 'Secure Boot needs firmware uefi: set firmware: uefi, or leave secureBoot out',
      });
    if (inputs.userData !== undefined && inputs.userDataBase64 !== undefined)
      out.push({
        path: ['userDataBase64'],
        message: 'conflicts with userData; set one of them (userDataBase64 for binary user data)',
      });
    // The agent derives the guest host name from the name when `hostname` is not set: check what it
    // will hand dnsmasq. An empty result is fine (the agent then uses server-<id>).
    if (inputs.hostname === undefined && typeof inputs.name === 'string') {
      const h = hostnameFromName(inputs.name);
      const p = h === '' ? undefined : hostnameProblem(h);
      if (p)
        out.push({
          path: ['name'],
          message: `gives the guest host name ${JSON.stringify(h)}, which ${p.replace(/^"[^"]*" /, '')}; set \`hostname\``,
        });
    }
    // Nova's metadata service never serves the admin password (any process in the guest can read the
    // service); it reaches the guest on the drive only.
    if (inputs.configDrive === false && inputs.adminPass !== undefined && inputs.installMedia === undefined)
      out.push({
        path: ['adminPass'],
        message:
          'needs configDrive: true: the metadata service does not serve the admin password (as in Nova), so it would never reach the guest',
      });
    // Nova's default injected_files quota.
    const injected = inputs.personality;
    if (injected && typeof injected === 'object' && !isUnknown(injected) && Object.keys(injected).length > 5)
      out.push({
        path: ['personality'],
        message: `has ${Object.keys(injected).length} files; at most 5 can be injected (Nova's injected_files quota)`,
      });
    // The guest is known here when the server names it; from the image, the engine's guest checks and the agent look.
    if (injected && typeof injected === 'object' && !isUnknown(injected) && inputs.osType === 'linux')
      for (const path of Object.keys(injected)) {
        const p = injectedPathProblem(path, 'linux');
        if (p) out.push({ path: ['personality', path], message: p });
      }
    if (inputs.flavor !== undefined)
      for (const k of ['vcpus', 'memoryMb'] as const)
        if (inputs[k] !== undefined)
          out.push({
            path: [k],
            message: 'conflicts with flavor: the flavor gives the size; set one of them',
          });
    const nets = Array.isArray(inputs.networks) ? inputs.networks : [];
    nets.forEach((n, i) => {
      if (!n || typeof n !== 'object' || Array.isArray(n) || isUnknown(n)) return;
      if ('port' in n) {
        for (const k of ['network', 'subnet', 'fixedIp'])
          if (k in n)
            out.push({
              path: ['networks', i, k],
              message: 'conflicts with port: the port gives the network and address; set one of them',
            });
      } else if (!('network' in n) && !('subnet' in n))
        out.push({ path: ['networks', i], message: 'needs `network`, `subnet` or `port`' });
    });
    out.push(...checkBootVolume(inputs));
    out.push(...checkInstall(inputs));
    return out;
  },
  plan(planned, prior) {
    if (planned.machine === undefined) {
      const m = defaultMachine(planned.firmware, planned.osType);
      if (m !== undefined) planned.machine = m;
    }
    planInstall(planned, prior);
    // A new flavor resizes the server (a cold resize in place): its size is the new flavor's, known after apply.
    if (
      prior &&
      planned.flavor !== undefined &&
      (isUnknown(planned.flavor) || planned.flavor !== prior.flavor)
    ) {
      planned.vcpus = UNKNOWN;
      planned.memoryMb = UNKNOWN;
    }
    // Without a flavor the size has defaults; with one, the agent takes it from the flavor.
    if (planned.flavor === undefined) {
      planned.vcpus ??= DEFAULT_SIZE.vcpus;
      planned.memoryMb ??= DEFAULT_SIZE.memoryMb;
    }
  },
  toRequest(inputs) {
    // With a flavor, the size in state is the flavor's as realized (computed); the agent takes it from the flavor.
    if (inputs.flavor === undefined) return inputs;
    const { vcpus: _v, memoryMb: _m, ...rest } = inputs;
    return rest;
  },
  drift: (a) =>
    // A server asked to be shut off or paused is not drifted for being so.
    (a.status === 'SHUTOFF' && a.powerState === 'shutoff') ||
    (a.status === 'PAUSED' && a.powerState === 'paused')
      ? undefined
      : (DRIFT[a.status as string] ??
        (a.drift ? `its libvirt domain was changed outside Stratus: ${String(a.drift)}` : undefined)),
  collection: 'servers',
  description:
    'A virtual machine booted from an image (or from a volume), with NICs on networks, a config-2 config drive (unless configDrive is false) and the metadata service.',
  inputs: Type.Object(
    {
      name: Type.Optional(
        Name({ description: 'Display name; defaults to the resource name.', updatableLive: true }),
      ),
      hostname: Type.Optional(
        Hostname({
          requiresReplace: true,
          description: 'Guest hostname; defaults to the name, made DNS-safe.',
        }),
      ),
      image: Type.Optional(
        Ref('image', {
          requiresReplace: true,
          description:
            'Image the root disk is an overlay of; excludes bootVolume and installMedia (one of the three is required).',
        }),
      ),
      bootVolume: Type.Optional(
        Ref('volume', {
          requiresReplace: true,
          description:
            "Volume the server boots from, as its root disk (Nova's boot from volume: a block device mapping with boot_index 0, source and destination volume); excludes image and installMedia. The volume is in-use while the server exists and is attached nowhere else unless it has multiattach; the flavor's disk size does not apply to it (Nova ignores root_gb for a volume-backed server: grow the volume instead); deleting the server leaves the volume and its data (delete_on_termination false). The guest's facts (os_type, hw_firmware_type and the other hw_* properties, minRamMb) come from the image the volume was made from, following source volumes (Cinder's volume_image_metadata). Changing it replaces the server.",
        }),
      ),
      ...INSTALL_INPUTS,
      flavor: Type.Optional(
        Ref('flavor', {
          description:
            "Flavor giving vCPUs, memory and root disk size (Nova's flavor); excludes vcpus and memoryMb. Changing it resizes the server in place (Nova's cold resize: a clean shutdown, the new size, the root disk grown and never shrunk, a boot; same domain UUID).",
        }),
      ),
      vcpus: Type.Optional(
        Vcpus({
          computed: true,
          description: `vCPUs; default ${DEFAULT_SIZE.vcpus}, or the flavor's.`,
        }),
      ),
      memoryMb: Type.Optional(
        MemoryMb({
          computed: true,
          description: `Memory in MiB; default ${DEFAULT_SIZE.memoryMb}, or the flavor's.`,
        }),
      ),
      osType: Type.Optional(
        Type.Union([Type.Literal('linux'), Type.Literal('windows')], {
          computed: true,
          requiresReplace: true,
          description:
            "Guest OS family, choosing the guest profile (Glance's os_type); default: the image's os_type, else linux. `windows`: q35, UEFI, TPM 2.0, local-time clock, VNC with a USB tablet, Hyper-V enlightenments where the domain type is kvm.",
        }),
      ),
      firmware: Type.Optional(
        Type.Union([Type.Literal('bios'), Type.Literal('uefi')], {
          computed: true,
          requiresReplace: true,
          description:
            "Boot firmware. Set here, it wins over the image's hw_firmware_type; default: the image's hw_firmware_type, else uefi for osType windows, else bios.",
        }),
      ),
      secureBoot: Type.Optional(
        Type.Boolean({
          computed: true,
          requiresReplace: true,
          description:
            "UEFI Secure Boot with Microsoft's keys enrolled (OVMF's Secure Boot build, SMM on); needs firmware uefi. Default: true when the image's os_secure_boot is `required`, else false.",
        }),
      ),
      tpm: Type.Optional(
        Type.Boolean({
          computed: true,
          requiresReplace: true,
          description:
            'A TPM 2.0 (tpm-crb, emulated by swtpm; its state is kept per server and removed with it). Default: true for osType windows or an image with hw_tpm_version 2.0, else false.',
        }),
      ),
      machine: Type.Optional(
        Type.Union([Type.Literal('pc'), Type.Literal('q35')], {
          computed: true,
          requiresReplace: true,
          description:
            'QEMU machine type; default q35 with firmware uefi or osType windows, else pc. UEFI needs q35 (OVMF with SMM).',
        }),
      ),
      networks: Type.Array(
        Type.Object(
          {
            network: Type.Optional(
              Ref('network', {
                refIncludes: 'subnet',
                description: 'Network to attach to (an address comes from its subnets).',
              }),
            ),
            subnet: Type.Optional(Ref('subnet', { description: 'Subnet to take the address from.' })),
            fixedIp: Type.Optional(Ipv4({ description: 'Address to use instead of an allocated one.' })),
            port: Type.Optional(
              Ref('port', {
                description:
                  'A port made beforehand (its network, address, MAC and security groups); excludes network, subnet and fixedIp.',
              }),
            ),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        { minItems: 1, maxItems: 8, requiresReplace: true, description: 'NICs, in order.' },
      ),
      securityGroups: Type.Optional(
        Type.Array(Ref('security_group', { description: 'A security group.' }), {
          maxItems: 20,
          updatableLive: true,
          description:
            "Security groups of the ports the server makes for its NICs (a NIC given as a port keeps the port's own); default: the agent's `default` group (ingress from its members only, egress anywhere).",
        }),
      ),
      userData: Type.Optional(
        UserData({
          requiresReplace: true,
          description:
            'User data on the config drive, as text (at most 65535 bytes in UTF-8); run by the guest at boot (cloud-init, or `#!` scripts).',
        }),
      ),
      userDataBase64: Type.Optional(
        UserDataBase64({
          requiresReplace: true,
          description:
            'User data as base64, for binary user data (e.g. gzip); decoded onto the config drive. Conflicts with userData.',
        }),
      ),
      personality: Type.Optional(
        KeyedMap(
          {
            // The key's own bounds live in its pattern (JSON Schema bounds map keys by patternProperties).
            pattern: INJECTED_PATH_PATTERN,
            formatName: `an absolute guest path such as /etc/motd (Nova's injected file path; a Windows guest also takes a drive path such as C:\\x.txt), at most ${MAX_INJECTED_PATH_LENGTH} characters`,
          },
          Type.String({ maxLength: 10240 }),
          {
            requiresReplace: true,
            description:
              "Files to inject (Nova's personality, Heat's OS::Nova::Server personality): absolute guest path to contents; a Windows guest (osType windows) also takes drive paths such as `C:\\Program Files\\x.txt`, which cloudbase-init writes. Listed in meta_data.json `files` with a `content_path`, the contents at openstack/content/NNNN on the config drive and the metadata service. At most 5 files, paths of at most 255 characters, contents of at most 10240 characters (Nova's default quotas).",
          },
        ),
      ),
      adminPass: Type.Optional(
        Type.String({
          minLength: 8,
          maxLength: 255,
          format: 'stratus-password',
          sensitive: true,
          requiresReplace: true,
          description: 'Initial administrator password, on the config drive as admin_pass; never shown.',
        }),
      ),
      configDrive: Defaulted(
        Type.Boolean({
          default: true,
          requiresReplace: true,
          description:
            "Attach a config-2 config drive (Nova's config_drive). With false the guest reads the same documents from the metadata service at 169.254.169.254 only (reached through the network's DHCP port).",
        }),
      ),
      keyPair: Type.Optional(
        Ref('keypair', {
          requiresReplace: true,
          description:
            "Key pair whose public key goes on the config drive under its name (Nova's key_name), beside publicKeys.",
        }),
      ),
      serverGroup: Type.Optional(
        Ref('server_group', {
          requiresReplace: true,
          description:
            "Server group whose policy places the server (Nova's `scheduler_hints: {group}`), joined at boot and never changed. Under anti-affinity a server beyond the group's members per host finds no valid host, as in Nova.",
        }),
      ),
      wait: Type.Optional(
        Type.Object(
          {
            for: Type.Optional(
              WaitFor({
                description:
                  "What apply waits for once the domain runs: `none` (default), `dhcp` (the guest took its DHCP lease on the first NIC), or `tcp:PORT` (then also the guest accepts TCP connections on PORT at that address, tried from the network's DHCP namespace).",
              }),
            ),
            timeout: Type.Optional(
              Duration({
                description: `How long apply waits before failing, e.g. 90s or 5m (default ${DEFAULT_WAIT_TIMEOUT}, at most 24h); the operation's own timeout (timeouts.create/update) also bounds it.`,
              }),
            ),
          },
          { additionalProperties: false },
        ),
      ),
      powerState: Defaulted(
        Type.Union([Type.Literal('running'), Type.Literal('shutoff'), Type.Literal('paused')], {
          default: 'running',
          updatableLive: true,
          description:
            "Whether the domain runs, is shut off, or is paused. `shutoff` shuts the guest down cleanly (ACPI power button), and stops it hard when it has not stopped within 60 s, as Nova's stop does; `running` boots it again.",
        }),
      ),
      metadata: Defaulted(
        KeyedMap(METADATA_KEY, Type.String({ maxLength: 255 }), {
          default: {},
          maxProperties: 128,
          updatableLive: true,
          description:
            "Key/value metadata (Nova's server metadata, at most 128 pairs), in the config drive's meta_data.json `meta`; a change rewrites the drive, which the guest reads at its next boot.",
        }),
      ),
      publicKeys: Defaulted(
        KeyedMap(
          { pattern: '^[A-Za-z0-9._-]{1,255}$', formatName: '1 to 255 letters, digits or -_.' },
          PublicKey({ description: 'An OpenSSH public key line.' }),
          {
            default: {},
            maxProperties: 100,
            requiresReplace: true,
            description: 'SSH public keys by name (at most 100), written to the config drive.',
          },
        ),
      ),
    },
    { additionalProperties: false },
  ),
  outputs: Type.Object({
    status: Type.String({
      description:
        'BUILD (being created), ACTIVE (running), SHUTOFF, PAUSED, ERROR (crashed) or MISSING (domain gone).',
    }),
    accessIpV4: Type.String({ description: 'First IPv4 address of the server.' }),
    addresses: Type.Array(
      Type.Object({
        network: Type.String(),
        subnet: Type.String(),
        ip: Type.String(),
        mac: Type.String(),
      }),
      { description: 'Addresses by NIC, in order.' },
    ),
    guestStatus: Type.Optional(
      Type.String({
        description:
          'What the agent saw of the guest: BOOTING (domain running, no DHCP lease taken since it started), LEASED (the guest took its lease on the first NIC), or DOWN (domain not running).',
      }),
    ),
    leaseAt: Type.Optional(
      Type.String({
        description:
          "When the guest took (or last renewed) its DHCP lease on the first NIC since the domain started, as ISO 8601 UTC (seconds), from dnsmasq's lease file; absent until then.",
      }),
    ),
    hypervisor: Type.String({
      description: 'libvirt domain type: kvm, or qemu (TCG) where KVM cannot run guests.',
    }),
    domain: Type.String({ description: 'libvirt domain name.' }),
    consoleLog: Type.String({ description: 'Path of the serial console log on the host.' }),
    drift: Type.Optional(
      Type.String({
        description: "How the domain's definition differs from the spec, when changed outside Stratus.",
      }),
    ),
    ...INSTALL_OUTPUTS,
  }),
});
