// The committed generated code must be exactly what flatc 2.0.8 makes of proto/src/main/fbs/stream.fbs
// (what ./generate.sh runs). flatc is required in CI (CI=true); elsewhere a missing flatc skips this test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const JS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
const FBS_DIR = join(JS_DIR, '..', '..', 'proto', 'src', 'main', 'fbs');
const COMMITTED = join(JS_DIR, 'src', 'generated');

function flatcVersion() {
  const r = spawnSync('flatc', ['--version'], { encoding: 'utf8' });
  return r.error ? null : `${r.stdout}${r.stderr}`.trim();
}

const version = flatcVersion();
const inCi = process.env.CI === 'true';
const skip = version === null && !inCi
  ? 'flatc not installed (apt-get install flatbuffers-compiler); generated-code check skipped' : false;

test('committed src/generated equals fresh flatc --ts output', { skip }, () => {
  assert.notEqual(version, null, 'flatc is required in CI (apt-get install flatbuffers-compiler)');
  assert.equal(version, 'flatc version 2.0.8', 'the generated code matches flatbuffers 2.0.x; run ./generate.sh with flatc 2.0.8');
  const out = mkdtempSync(join(tmpdir(), 'shiftformer-js-gen-'));
  try {
    execFileSync('flatc', ['--ts', '--ts-flat-files', '-o', out, 'stream.fbs'], { cwd: FBS_DIR, stdio: 'pipe' });
    const fresh = readdirSync(out).sort();
    assert.deepEqual(readdirSync(COMMITTED).sort(), fresh, 'generated file set differs: run clients/js/generate.sh and commit');
    for (const f of fresh) {
      assert.ok(readFileSync(join(COMMITTED, f), 'utf8') === readFileSync(join(out, f), 'utf8'),
        `src/generated/${f} differs from flatc's output: run clients/js/generate.sh and commit the result`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
