/**
 * Guest paths of injected files (a server's `personality`, Nova's injected files): which paths a guest
 * takes. Nova passes each path through unchecked beyond its `injected_file_path_bytes` quota (255); the
 * guest agent writes it: cloud-init on Linux (an absolute POSIX path), cloudbase-init on Windows, which
 * writes a path as Windows reads it, so `C:\Program Files\x.txt` (or `C:/...`) names a file on drive C.
 * A drive-letter path means nothing to a Linux guest, so Stratus refuses it there at plan rather than
 * let cloud-init write a file named `C:\...` in its working directory. Pure.
 */

/** Longest injected file path, in characters (Nova's default `injected_file_path_bytes` quota). */
export const MAX_INJECTED_PATH_LENGTH = 255;

/**
 * The JSON Schema pattern of an injected file path (the key of `personality`): an absolute POSIX path
 * (`/etc/motd`) or a Windows drive path (`C:\...` or `C:/...`), at most {@link MAX_INJECTED_PATH_LENGTH}
 * characters either way.
 */
export const INJECTED_PATH_PATTERN = `^(/.{0,${MAX_INJECTED_PATH_LENGTH - 1}}|[A-Za-z]:[\\\\/].{0,${MAX_INJECTED_PATH_LENGTH - 3}})$`;

/** Whether `path` is a Windows drive path (`C:\...`, `C:/...`). */
export function isWindowsDrivePath(path: string): boolean {
  return /^[A-Za-z]:[\\/]/.test(path);
}

/**
 * Why a guest of `osType` cannot take an injected file at `path`, or undefined: a drive-letter path on a
 * Linux guest. (Shape and length are the schema's pattern.) A Windows guest takes both forms: a POSIX
 * absolute path is one on its system drive. `why` says where the guest's osType came from.
 */
export function injectedPathProblem(
  path: string,
  osType: 'linux' | 'windows',
  why = 'the server sets osType linux',
): string | undefined {
  if (osType === 'windows' || !isWindowsDrivePath(path)) return undefined;
  return `is a Windows path, but the guest is linux (${why}; cloud-init writes absolute POSIX paths such as /etc/motd): use such a path, or set osType: windows`;
}
