// Builds the native helpers with the C compiler and the headers of the Node that runs this script:
// native/build/seek.node (lseek with SEEK_DATA/SEEK_HOLE, see seek.c) and native/build/memory.node
// (page-aligned buffers for O_DIRECT writes, glibc's heap trimming; see memory.c) and
// native/build/digest.node (image data hashed in the thread pool; see digest.c). Without a compiler or
// headers it says so and exits 0: stratus then reads sparse files whole, writes images through the page
// cache and hashes them on the JavaScript thread (correct, only slower; see src/sparse.ts and
// src/memory.ts). Helpers are linked with -z now: a symbol Node does not export fails the load (and
// stratus goes on without the helper), never a call later.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const include = join(dirname(process.execPath), '..', 'include', 'node');
const helpers = {
  seek: 'sparse files are read whole',
  memory: 'images are written through the page cache',
  digest: 'images are hashed on the JavaScript thread',
};
if (process.platform !== 'linux' || !existsSync(join(include, 'node_api.h'))) {
  console.warn(
    `native helpers not built: no Node headers at ${include}; ${Object.values(helpers).join(', ')}`,
  );
  process.exit(0);
}
mkdirSync(join(here, 'build'), { recursive: true });
const cc = process.env.CC ?? 'cc';
for (const [name, without] of Object.entries(helpers)) {
  const r = spawnSync(
    cc,
    [
      '-O2',
      '-shared',
      '-fPIC',
      '-Wl,-z,now',
      `-DNODE_GYP_MODULE_NAME=${name}`,
      '-I',
      include,
      '-o',
      join(here, 'build', `${name}.node`),
      join(here, `${name}.c`),
    ],
    { stdio: 'inherit' },
  );
  if (r.error || r.status !== 0)
    console.warn(`${name}.node not built (${r.error?.message ?? `${cc} exited ${r.status}`}); ${without}`);
}
