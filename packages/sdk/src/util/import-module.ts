/**
 * Where the launcher leaves its `import()` for the CLI's bundle. A registered symbol: the launcher and
 * the CLI are two bundles, each with its own copy of this module.
 */
const KEY = Symbol.for('stratus.cli.import');

type Importer = (specifier: string) => Promise<unknown>;

/**
 * Hands the CLI's bundle an `import()` that works (called by the launcher, cli/launcher.ts, before it
 * runs the bundle). The bundle runs as a vm.Script compiled with a V8 code cache, and such a script has
 * no module loader for its own `import()` on node 20: the call fails with "A dynamic import callback
 * was not specified".
 */
export function setModuleImporter(importer: Importer): void {
  (globalThis as Record<symbol, unknown>)[KEY] = importer;
}

/**
 * Imports an ES module as `import(specifier)` would from this package: a package name (resolved from
 * @stratus/sdk's node_modules) or a file URL. Under the launcher, the launcher's `import()` loads it
 * (see {@link setModuleImporter}); elsewhere (the library, the CLI run from its modules) this module's
 * own. Rejects as `import()` does: ERR_MODULE_NOT_FOUND and the like.
 */
export function importModule<T>(specifier: string): Promise<T> {
  const importer = (globalThis as Record<symbol, unknown>)[KEY] as Importer | undefined;
  return (importer ? importer(specifier) : import(specifier)) as Promise<T>;
}
