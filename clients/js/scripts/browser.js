/**
 * Refreshes clients/js/browser: the files a browser needs besides src/codec.js and src/errors.js to run
 * the codec as ES modules (runtime-core copies all of them next to the admin port's web console):
 *   browser/build/generated/stream_generated.js  tsc's output of the generated code (run `npm run build` first)
 *   browser/flatbuffers/*.js, LICENSE.txt         the official flatbuffers runtime's ES modules (node_modules)
 * The page maps the bare specifier 'flatbuffers' to flatbuffers/index.js with an import map, and codec.js's
 * '../build/generated/stream_generated.js' resolves to the copy here, so no file is rewritten.
 * test/browser.test.js checks that the committed copies equal what this script writes.
 */
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Source and destination (relative to clients/js) of every file clients/js/browser holds. */
export function browserFiles() {
  const files = [['build/generated/stream_generated.js', 'browser/build/generated/stream_generated.js'],
    ['node_modules/flatbuffers/LICENSE.txt', 'browser/flatbuffers/LICENSE.txt']];
  const mjs = 'node_modules/flatbuffers/mjs';
  for (const name of readdirSync(join(root, mjs)).sort()) {
    if (name.endsWith('.js') && name !== 'flexbuffers.js') { // index.js does not import flexbuffers
      files.push([`${mjs}/${name}`, `browser/flatbuffers/${name}`]);
    }
  }
  return files;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  rmSync(join(root, 'browser'), { recursive: true, force: true });
  for (const [from, to] of browserFiles()) {
    mkdirSync(dirname(join(root, to)), { recursive: true });
    copyFileSync(join(root, from), join(root, to));
  }
  console.log('clients/js/browser refreshed');
}
