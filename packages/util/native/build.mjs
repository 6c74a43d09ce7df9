// Builds native/seek.node (lseek with SEEK_DATA/SEEK_HOLE, see seek.c) with the C compiler and the
// headers of the Node that runs this script. Without a compiler or headers it says so and exits 0:
// stratus then reads sparse files whole (correct, only slower; see src/sparse.ts).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const include = join(dirname(process.execPath), '..', 'include', 'node');
const out = join(here, 'build', 'seek.node');
if (process.platform !== 'linux' || !existsSync(join(include, 'node_api.h'))) {
  console.warn(`seek.node not built: no Node headers at ${include}; sparse files are read whole`);
  process.exit(0);
}
mkdirSync(join(here, 'build'), { recursive: true });
const cc = process.env.CC ?? 'cc';
const r = spawnSync(
  cc,
  ['-O2', '-shared', '-fPIC', '-DNODE_GYP_MODULE_NAME=seek', '-I', include, '-o', out, join(here, 'seek.c')],
  { stdio: 'inherit' },
);
if (r.error || r.status !== 0) {
  console.warn(
    `seek.node not built (${r.error?.message ?? `${cc} exited ${r.status}`}); sparse files are read whole`,
  );
  process.exit(0);
}
