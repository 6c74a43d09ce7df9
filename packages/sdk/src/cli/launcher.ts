/**
 * The `stratus` command as installed: the package's `bin`, dist/bundle/stratus.js, bundled from this
 * module by scripts/bundle-cli.ts as CommonJS. It compiles the CLI, which the same script bundles into
 * one file (dist/bundle/cli.js, a function expression taking CommonJS's module arguments), with V8's
 * code cache (dist/bundle/cli.js.v8cache), so a command starts from bytecode made at build time instead
 * of parsing and compiling the ~800 KB it runs. Node 20 has no compile cache of its own for this
 * (`module.enableCompileCache` came in Node 22.1), and `vm.Script`'s `cachedData` works only on a
 * script, hence the single file.
 *
 * The cache file is a 4-byte little-endian CRC-32 of the bundle's bytes, then V8's data. A cache made
 * from another bundle is not offered to V8 (V8 checks its own version, flags and the source's length,
 * not its content); one V8 refuses is ignored. Either way the bundle compiles without it: the cache only
 * saves time. `STRATUS_CLI_CODE_CACHE=off` compiles without it; `=write` (the build's training runs)
 * writes it at exit with every function the run compiled, on top of those the cache it started from
 * held. The outcome is in the CLI's debug log (`STRATUS_LOG=debug`, `codeCache=...`).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';
import { crc32 } from 'node:zlib';
import { setModuleImporter } from '../util/import-module.js';
import { type CodeCacheStatus, setCodeCacheStatus } from './code-cache.js';

/** This file's path: the launcher is emitted as a CommonJS module, which has it. */
declare const __filename: string;

/** The CLI's bundle: a function expression over CommonJS's module arguments. */
type BundleFn = (
  exports: object,
  require: NodeJS.Require,
  module: { exports: object },
  filename: string,
  dirname: string,
) => void;

const dir = dirname(__filename);
const bundleFile = join(dir, 'cli.js');
const cacheFile = `${bundleFile}.v8cache`;
const mode = process.env.STRATUS_CLI_CODE_CACHE;
const code = readFileSync(bundleFile);
const sum = crc32(code);

let cachedData: Buffer | undefined;
let status: CodeCacheStatus = mode === 'off' ? 'off' : 'absent';
if (mode !== 'off') {
  try {
    const file = readFileSync(cacheFile);
    if (file.length > 4 && file.readUInt32LE(0) === sum) cachedData = file.subarray(4);
    else status = 'stale';
  } catch {
    // No cache: compile the bundle from source.
  }
}
// No importModuleDynamically: node 20 marks USE_MAIN_CONTEXT_DEFAULT_LOADER experimental (a warning on
// every run), and a script compiled from a code cache loses it anyway. The bundle imports ES modules
// through this module's import() instead (util/import-module.ts); the build checks it has no import()
// of its own left.
setModuleImporter((specifier) => import(specifier));
const script = new Script(code.toString('utf8'), { filename: bundleFile, cachedData });
if (cachedData) status = script.cachedDataRejected ? 'rejected' : 'used';
if (mode === 'write') {
  status = 'write';
  process.once('exit', () => {
    const head = Buffer.alloc(4);
    head.writeUInt32LE(sum, 0);
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    writeFileSync(tmp, Buffer.concat([head, script.createCachedData()]));
    renameSync(tmp, cacheFile);
  });
}
setCodeCacheStatus(status);
const cli = { exports: {} };
(script.runInThisContext() as BundleFn)(cli.exports, createRequire(bundleFile), cli, bundleFile, dir);
