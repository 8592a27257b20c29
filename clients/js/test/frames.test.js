// The frame reader and the codec on hand-made bytes: no socket, no server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameReader, decodeFrame, encodeCancel, encodeHello, encodePing, encodeTranslateRequest } from '../src/codec.js';
import { ErrorCode, ShiftformerError } from '../src/errors.js';
import * as frames from './support/server-frames.js';

// PROTOCOL.md section 9: Cancel for request 7 exactly as the Java writer produces it.
const JAVA_CANCEL_7 = Uint8Array.from(Buffer.from(
  '34000000 18000000 53465453 000000000000 0a0014000c0007000800 0a000000 000000 09 10000000 0700000000000000 04000400 04000000'
    .replace(/ /g, ''), 'hex'));

function decodeAll(list) {
  return list.map(decodeFrame);
}

function assertProtocolError(fn, pattern) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof ShiftformerError, `a ShiftformerError, got ${e}`);
    assert.equal(e.code, 'PROTOCOL_ERROR');
    assert.equal(e.codeNumber, ErrorCode.PROTOCOL_ERROR);
    assert.match(e.message, pattern);
    return true;
  });
}

const STREAM = [
  frames.token(5n, 0, 104, 'h'),
  frames.token(5n, 1, 105, 'ä'),
  frames.pong(0n, 9n),
  frames.done(5n, [104, 105], 'hä'),
  frames.error(6n, ErrorCode.OVERLOADED, 'too many requests in flight'),
];
const BYTES = frames.concat(...STREAM);
const EXPECTED = decodeAll(STREAM);

test('the Java writer\'s Cancel frame from PROTOCOL.md decodes', () => {
  assert.equal(JAVA_CANCEL_7.length, 56);
  assert.deepEqual(decodeFrame(JAVA_CANCEL_7), { requestId: 7n, type: 'Cancel', bodyType: 9 });
  assert.deepEqual(decodeFrame(encodeCancel(7n)), { requestId: 7n, type: 'Cancel', bodyType: 9 });
});

test('frames the client writes decode to what was asked', () => {
  assert.deepEqual(decodeFrame(encodeHello('js test')),
    { requestId: 0n, type: 'Hello', bodyType: 1, minVersion: 1, maxVersion: 1, clientName: 'js test', token: null },
    'no token: the field is absent');
  assert.deepEqual(decodeFrame(encodeHello('js test', { token: 'tök-3', minVersion: 1, maxVersion: 2 })),
    { requestId: 0n, type: 'Hello', bodyType: 1, minVersion: 1, maxVersion: 2, clientName: 'js test', token: 'tök-3' });
  assert.deepEqual(decodeFrame(encodePing(0xffff_ffff_ffff_ffffn)),
    { requestId: 0n, type: 'Ping', bodyType: 11, nonce: 0xffff_ffff_ffff_ffffn });
  const t = decodeFrame(encodeTranslateRequest(0x8000_0000_0000_0001n, [3, 1, 4, 1, 5],
    { beamWidth: 4, maxNewTokens: 9, alphaQ8: 154, deadlineMs: 5000, stream: false }));
  assert.equal(t.requestId, 0x8000_0000_0000_0001n);
  assert.deepEqual(t.tokens, [3, 1, 4, 1, 5]);
  assert.equal(t.text, null);
  assert.deepEqual(t.params, { beamWidth: 4, maxNewTokens: 9, alphaQ8: 154 });
  assert.equal(t.deadlineMs, 5000);
  assert.equal(t.stream, false);
  const s = decodeFrame(encodeTranslateRequest(1n, 'zweihundertdreiundvierzig €'));
  assert.equal(s.text, 'zweihundertdreiundvierzig €');
  assert.equal(s.tokens, null);
  assert.deepEqual(s.params, { beamWidth: 1, maxNewTokens: 0, alphaQ8: 0 }, 'defaults travel as absent fields');
  assert.equal(s.stream, true);
});

test('every frame is 8-aligned and carries the identifier at bytes 8..11', () => {
  for (const f of [...STREAM, encodeHello('x'), encodeTranslateRequest(2n, [1, 2, 3])]) {
    assert.equal(new DataView(f.buffer, f.byteOffset).getUint32(0, true), f.length - 4);
    assert.equal(Buffer.from(f.subarray(8, 12)).toString('latin1'), 'SFTS');
  }
});

test('several frames in one chunk', () => {
  const reader = new FrameReader();
  assert.deepEqual(decodeAll(reader.push(BYTES)), EXPECTED);
  assert.equal(reader.pendingBytes, 0);
});

test('one byte at a time', () => {
  const reader = new FrameReader();
  const out = [];
  for (let i = 0; i < BYTES.length; i++) {
    out.push(...reader.push(BYTES.subarray(i, i + 1)));
  }
  assert.deepEqual(decodeAll(out), EXPECTED);
  assert.equal(reader.pendingBytes, 0);
});

test('every split into two chunks, and into three', () => {
  for (let i = 0; i <= BYTES.length; i++) {
    const reader = new FrameReader();
    const out = [...reader.push(BYTES.subarray(0, i)), ...reader.push(BYTES.subarray(i))];
    assert.deepEqual(decodeAll(out), EXPECTED, `split at ${i}`);
  }
  for (let i = 0; i <= BYTES.length; i += 3) {
    for (let j = i; j <= BYTES.length; j += 5) {
      const reader = new FrameReader();
      const out = [...reader.push(BYTES.subarray(0, i)), ...reader.push(BYTES.subarray(i, j)),
        ...reader.push(BYTES.subarray(j))];
      assert.deepEqual(decodeAll(out), EXPECTED, `split at ${i} and ${j}`);
    }
  }
});

test('a frame is not returned before its last byte', () => {
  const reader = new FrameReader();
  const f = STREAM[3];
  assert.deepEqual(reader.push(f.subarray(0, f.length - 1)), []);
  assert.equal(reader.pendingBytes, f.length - 1);
  const [whole] = reader.push(f.subarray(f.length - 1));
  assert.deepEqual(whole, f);
});

test('returned frames are copies, independent of the chunks', () => {
  const chunk = BYTES.slice();
  const reader = new FrameReader();
  const out = reader.push(chunk);
  chunk.fill(0);
  assert.deepEqual(decodeAll(out), EXPECTED);
});

test('a length prefix above the limit is rejected once its 4 bytes are in, naming it', () => {
  const reader = new FrameReader(65536);
  assert.deepEqual(reader.push(Uint8Array.of(0xff, 0xff, 0xff)), []);
  assertProtocolError(() => reader.push(Uint8Array.of(0xff)), /length prefix 4294967295 exceeds the limit of 65536 bytes/);
  const r2 = new FrameReader(100);
  assertProtocolError(() => r2.push(Uint8Array.of(101, 0, 0, 0)), /length prefix 101 exceeds the limit of 100/);
});

test('a length prefix below 12 is rejected', () => {
  assertProtocolError(() => new FrameReader().push(Uint8Array.of(11, 0, 0, 0)), /length prefix 11 is below the minimum of 12/);
});

test('a wrong identifier is rejected, showing it', () => {
  const f = STREAM[0].slice();
  f.set([0x58, 0x58, 0x58, 0x58], 8);
  assertProtocolError(() => decodeFrame(f), /identifier is 58 58 58 58, not "SFTS"/);
});

test('an unknown message type and a missing body are rejected', () => {
  assertProtocolError(() => decodeFrame(frames.emptyBody(1n, 13)), /unknown message type 13/);
  assertProtocolError(() => decodeFrame(frames.emptyBody(1n, 0)), /unknown message type 0/);
});

test('offsets outside the frame are rejected instead of reading garbage', () => {
  const f = frames.done(5n, [1, 2, 3], 'abc').slice();
  const root = 4 + new DataView(f.buffer).getUint32(4, true);
  new DataView(f.buffer).setInt32(root, -100000, true); // the Frame table's vtable soffset
  assertProtocolError(() => decodeFrame(f), /bad FlatBuffers offset/);
  const g = STREAM[0].slice();
  new DataView(g.buffer).setUint32(4, 0x7fff0000, true); // root offset far past the end
  assertProtocolError(() => decodeFrame(g), /bad FlatBuffers offset/);
});

test('malformed UTF-8 in Token.text is rejected', () => {
  const f = frames.token(5n, 0, 104, 'h').slice();
  const at = f.lastIndexOf(0x68); // the 'h'
  f[at] = 0xff;
  assertProtocolError(() => decodeFrame(f), /Token.text is not well-formed UTF-8/);
});

test('a length prefix that disagrees with the bytes is rejected', () => {
  const f = STREAM[0].slice(0, STREAM[0].length - 4);
  assertProtocolError(() => decodeFrame(f), /length prefix \d+ does not match/);
});

test('bad arguments of the encoders name what is wrong', () => {
  assert.throws(() => encodeTranslateRequest(1n, [1, 2.5]), /token 1 must be a 32-bit integer, got 2.5/);
  assert.throws(() => encodeTranslateRequest(1n, 'x', { beamWidth: 70000 }), /beamWidth must be an integer in 0..65535/);
  assert.throws(() => encodeTranslateRequest(1n, 'x', { deadlineMs: 2 ** 31 }), /deadlineMs must be an integer in 0..2147483647/);
  assert.throws(() => encodeTranslateRequest(1n, null), /source must be a string or an array of token ids, got null/);
  assert.throws(() => encodeHello('é'.repeat(513)), /clientName must be a string of 0 to 1024 UTF-8 bytes, got 1026 bytes/);
  assert.equal(decodeFrame(encodeHello('é'.repeat(512))).clientName, 'é'.repeat(512));
  // A token is checked the same way (PROTOCOL.md section 3: at most 1024 bytes), and never shown.
  const secret = `s3cret-${'é'.repeat(509)}`;
  assert.throws(() => encodeHello('x', { token: secret }), (e) => /token must be a string of 1 to 1024 UTF-8 bytes, got 1025 bytes/.test(e.message)
    && !e.message.includes('s3cret'));
  assert.throws(() => encodeHello('x', { token: '' }), /token must be a string of 1 to 1024 UTF-8 bytes, got 0 bytes/);
  assert.throws(() => encodeHello('x', { token: 42 }), /token must be a string of 1 to 1024 UTF-8 bytes, got number/);
  assert.equal(decodeFrame(encodeHello('x', { token: secret.slice(1) })).token, secret.slice(1));
});
