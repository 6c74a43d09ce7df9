/**
 * Rules for text that reaches a host tool (dnsmasq, libvirt, cloud-init's authorized_keys), shared by
 * the schema (so `stratus validate` refuses it, with a location) and the agent (so what it builds for a
 * host tool is checked by the very same predicate). Each `...Problem` function returns why a value is
 * refused, or undefined when it is fine. Pure: no Node-only APIs.
 */

/** Longest single DNS label (RFC 1035 2.3.4). */
export const MAX_HOSTNAME_LENGTH = 63;

/** Longest display name, in UTF-16 code units (libvirt's `<title>` and the agent's records take 255). */
export const MAX_NAME_LENGTH = 255;

/**
 * Largest SSH public key accepted, in UTF-8 bytes. OpenSSH keys are far smaller (an RSA 16384-bit key is
 * about 2.8 KiB; certificates a few KiB); 16 KiB leaves room for any real key and refuses pasted files.
 */
export const MAX_PUBLIC_KEY_BYTES = 16 * 1024;

/** Largest user data, in bytes after decoding: Nova's limit (65535 bytes). */
export const MAX_USER_DATA_BYTES = 65535;

// One RFC 1123 label: letters, digits and inner hyphens. Dots are refused: dnsmasq drops or rejects a
// domain part that does not match its --domain, which the agent does not set.
const LABEL_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

// dnsmasq reads a dhcp-host field like `600`, `12h`, `45m` or `infinite` as a lease time, and `ignore` as
// a directive (dnsmasq(8), --dhcp-host), so a host name of that form silently changes the entry's meaning
// or is refused. An all-digit label is also refused by RFC 1123's "not all-numeric" rule for host names.
const DNSMASQ_RESERVED_RE = /^([0-9]+[smhdw]?|infinite|ignore)$/i;

// C0 and C1 control characters and DEL: refused by XML 1.0 (libvirt), or line breaks in line-based files.
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;
// With the `u` flag a surrogate matches only when it is not part of a pair.
const LONE_SURROGATE_RE = /[\ud800-\udfff]/u;

/** Why `s` is not a guest host name dnsmasq and cloud-init take as is, or undefined when it is one. */
export function hostnameProblem(s: string): string | undefined {
  if (!LABEL_RE.test(s))
    return `${JSON.stringify(s)} is not a single-label host name (letters, digits and inner hyphens, at most ${MAX_HOSTNAME_LENGTH})`;
  if (DNSMASQ_RESERVED_RE.test(s))
    return `${JSON.stringify(s)} cannot be a host name: dnsmasq reads it as a lease time or a keyword (use a name with a letter, e.g. "vm-${s.toLowerCase()}")`;
  return undefined;
}

/** Whether `s` is a guest host name the agent's DHCP server accepts (see {@link hostnameProblem}). */
export const isGuestHostname = (s: string): boolean => hostnameProblem(s) === undefined;

/**
 * The guest host name a server gets from its display name when it has no `hostname`: lower-cased, runs
 * of other characters turned into one `-`, trimmed to {@link MAX_HOSTNAME_LENGTH}. Empty when nothing
 * usable is left (the agent then uses `server-<id prefix>`). The result may still be refused by
 * {@link hostnameProblem} (`12h`), which is why validation checks it.
 */
export function hostnameFromName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, MAX_HOSTNAME_LENGTH)
    .replace(/-+$/, '');
}

/** Longest Windows computer name: NetBIOS names are 15 characters (the 16th is the service type). */
export const MAX_NETBIOS_NAME_LENGTH = 15;

/**
 * The host name a Windows guest gets from the host name `h` (a single DNS label, see
 * {@link hostnameProblem}) of server `id`: `h` when it has at most {@link MAX_NETBIOS_NAME_LENGTH}
 * characters; else its first 10 characters (trailing hyphens dropped), `-` and the first 4 hex digits of
 * the id, so that servers whose long names share a prefix still get distinct computer names. Without it,
 * cloudbase-init cuts the name to 15 characters itself (`netbios_host_name_compatibility`, on by default),
 * so the guest's name would differ from the one DHCP and the metadata carry, and `web-frontend-01` and
 * `web-frontend-02` style names longer than 15 would collide.
 */
export function netbiosHostname(h: string, id: string): string {
  if (h.length <= MAX_NETBIOS_NAME_LENGTH) return h;
  const head = h.slice(0, 10).replace(/-+$/, '');
  return `${head}-${id.replace(/-/g, '').slice(0, 4).toLowerCase()}`;
}

/** Why `s` cannot be text written into a host object (XML, JSON files), or undefined. */
export function textProblem(s: string): string | undefined {
  if (LONE_SURROGATE_RE.test(s))
    return 'contains an unpaired UTF-16 surrogate, which has no UTF-8 form (it would be silently replaced)';
  return undefined;
}

/** Why `s` is not a display name (libvirt `<title>`, records), or undefined. */
export function displayNameProblem(s: string): string | undefined {
  if (s.length === 0) return 'must not be empty';
  if (s.length > MAX_NAME_LENGTH) return `is ${s.length} UTF-16 code units long; at most ${MAX_NAME_LENGTH}`;
  if (CONTROL_RE.test(s)) return 'must not contain control characters or line breaks';
  return textProblem(s);
}

/**
 * Why `s` is not an initial password cloud-init can set: cloud-init feeds `user:password` lines to
 * chpasswd, so a line break would set a second account's password; other control characters are refused
 * with it.
 */
export function passwordProblem(s: string): string | undefined {
  if (CONTROL_RE.test(s))
    return 'must not contain control characters or line breaks (cloud-init hands it to chpasswd line by line)';
  return textProblem(s);
}

/** Why `s` is not a local file path the agent can open, or undefined (NUL ends a path in every syscall). */
export function localPathProblem(s: string): string | undefined {
  if (s.includes('\u0000')) return 'must not contain a NUL character';
  return textProblem(s);
}

/** UTF-8 length of a well-formed string, in bytes. */
export function utf8Length(s: string): number {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}

/**
 * Why `s` is not an SSH public key line cloud-init can put in authorized_keys as one entry: one line,
 * no control characters, at most {@link MAX_PUBLIC_KEY_BYTES}. A line break would add further entries.
 */
export function publicKeyProblem(s: string): string | undefined {
  const t = textProblem(s);
  if (t) return t;
  const bytes = utf8Length(s);
  if (bytes > MAX_PUBLIC_KEY_BYTES)
    return `is ${bytes} bytes; an SSH public key is at most ${MAX_PUBLIC_KEY_BYTES} bytes (OpenSSH keys are a few KiB)`;
  if (CONTROL_RE.test(s))
    return 'must be one line without control characters (a line break would add more authorized keys)';
  if (!/^\S+ \S+/.test(s)) return 'must be an OpenSSH public key line such as "ssh-ed25519 AAAA... comment"';
  return undefined;
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decoded length of canonical base64 text, or undefined when `s` is not canonical padded base64. */
export function base64DecodedLength(s: string): number | undefined {
  if (!BASE64_RE.test(s)) return undefined;
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  return (s.length / 4) * 3 - pad;
}

/** Why `s` is not user data (text form) the agent writes as is, or undefined. */
export function userDataProblem(s: string): string | undefined {
  const t = textProblem(s);
  if (t) return t;
  const bytes = utf8Length(s);
  if (bytes > MAX_USER_DATA_BYTES)
    return `is ${bytes} bytes in UTF-8; user data is at most ${MAX_USER_DATA_BYTES} bytes (Nova's limit)`;
  return undefined;
}

/** Why `s` is not base64 user data (binary form), or undefined. */
export function userDataBase64Problem(s: string): string | undefined {
  const n = base64DecodedLength(s);
  if (n === undefined) return 'must be padded base64 (RFC 4648 section 4, no line breaks)';
  if (n > MAX_USER_DATA_BYTES)
    return `decodes to ${n} bytes; user data is at most ${MAX_USER_DATA_BYTES} bytes (Nova's limit)`;
  return undefined;
}
