/**
 * Loading of the native helpers built from `native/*.c` with the package (`native/build.mjs`). A helper
 * that could not be built or loaded (no compiler or Node headers, another platform, a Node lacking a
 * symbol) is absent, and each caller then does without it: the same results, only slower.
 */
import { createRequire } from 'node:module';

const loaded = new Map<string, unknown>();

/**
 * The native helper `name` (`native/build/<name>.node`), or null when it is absent; loaded once. Typed
 * by the caller, which states the helper's functions as the `.c` file's header comment gives them.
 */
export function nativeHelper<T>(name: 'seek' | 'memory' | 'digest'): T | null {
  if (!loaded.has(name)) {
    let helper: unknown = null;
    try {
      // By the package's name, not a path relative to this module: bundled into the CLI, this module's
      // URL is the bundle's, and a relative path missed the helper (the CLI then read sparse files whole).
      helper = createRequire(import.meta.url)(`@stratus/util/native/${name}.node`);
    } catch {
      // absent: the caller goes on without it
    }
    loaded.set(name, helper);
  }
  return loaded.get(name) as T | null;
}
