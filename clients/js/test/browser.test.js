// clients/js/browser (served by the admin port's web console) is what `npm run browser` writes from this
// checkout's generated code and flatbuffers runtime, byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { browserFiles } from '../scripts/browser.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function listed(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listed(join(dir, e.name)) : [relative(root, join(dir, e.name))]);
}

test('clients/js/browser is up to date (npm run browser)', () => {
  const files = browserFiles();
  for (const [from, to] of files) {
    assert.ok(readFileSync(join(root, from)).equals(readFileSync(join(root, to))), `${to} differs from ${from}: run npm run browser`);
  }
  assert.deepEqual(listed(join(root, 'browser')).sort(), files.map(([, to]) => to).sort(), 'files in clients/js/browser');
});
