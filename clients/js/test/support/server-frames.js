// Server -> client frames for the tests, built with the official runtime and the generated code (the
// client itself never writes these types).
import * as flatbuffers from 'flatbuffers';
import * as fb from '../../build/generated/stream_generated.js';

function finish(b, requestId, type, body) {
  fb.Frame.startFrame(b);
  fb.Frame.addRequestId(b, BigInt(requestId));
  fb.Frame.addBodyType(b, type);
  fb.Frame.addBody(b, body);
  b.finishSizePrefixed(fb.Frame.endFrame(b), 'SFTS');
  return b.asUint8Array().slice();
}

function backend(b) {
  return fb.Backend.createBackend(b, b.createString('test'), b.createString('cpu'), b.createString('1'));
}

export function welcome({ version = 1, maxFrameBytes = 1 << 20 } = {}) {
  const b = new flatbuffers.Builder(256);
  const sha = b.createString('ab'.repeat(32));
  const be = backend(b);
  fb.ModelSummary.startModelSummary(b);
  fb.ModelSummary.addSha256(b, sha);
  fb.ModelSummary.addBackend(b, be);
  fb.ModelSummary.addVocabSize(b, 300);
  fb.ModelSummary.addMaxPositions(b, 32);
  const model = fb.ModelSummary.endModelSummary(b);
  const name = b.createString('scripted');
  const ver = b.createString('0');
  fb.Welcome.startWelcome(b);
  fb.Welcome.addVersion(b, version);
  fb.Welcome.addServerName(b, name);
  fb.Welcome.addServerVersion(b, ver);
  fb.Welcome.addMaxFrameBytes(b, maxFrameBytes);
  fb.Welcome.addMaxInFlight(b, 16);
  fb.Welcome.addMaxBeamWidth(b, 8);
  fb.Welcome.addModel(b, model);
  return finish(b, 0n, fb.Body.Welcome, fb.Welcome.endWelcome(b));
}

export function token(requestId, index, id, text) {
  const b = new flatbuffers.Builder(64);
  const t = fb.Token.createTextVector(b, new TextEncoder().encode(text));
  fb.Token.startToken(b);
  fb.Token.addToken(b, id);
  fb.Token.addText(b, t);
  fb.Token.addIndex(b, index);
  fb.Token.addDeviceCycles(b, 1000n + BigInt(index));
  return finish(b, requestId, fb.Body.Token, fb.Token.endToken(b));
}

export function done(requestId, tokens, text) {
  const b = new flatbuffers.Builder(256);
  const be = backend(b);
  const sha = b.createString('ab'.repeat(32));
  const toks = fb.Done.createTokensVector(b, tokens);
  const txt = b.createString(text);
  const tail = fb.Done.createTextTailVector(b, []);
  const params = fb.DecodeParams.createDecodeParams(b, 1, 31, 0);
  fb.Done.startDone(b);
  fb.Done.addTokenCount(b, tokens.length);
  fb.Done.addFinishedByEos(b, true);
  fb.Done.addScore(b, -5n);
  fb.Done.addTotalNs(b, 123n);
  fb.Done.addBackend(b, be);
  fb.Done.addModelSha256(b, sha);
  fb.Done.addParams(b, params);
  fb.Done.addTokens(b, toks);
  fb.Done.addText(b, txt);
  fb.Done.addTextTail(b, tail);
  return finish(b, requestId, fb.Body.Done, fb.Done.endDone(b));
}

export function error(requestId, code, message) {
  const b = new flatbuffers.Builder(128);
  const m = b.createString(message);
  return finish(b, requestId, fb.Body.Error, fb.Error.createError(b, code, m));
}

export function cancelled(requestId, tokenCount) {
  const b = new flatbuffers.Builder(64);
  return finish(b, requestId, fb.Body.Cancelled, fb.Cancelled.createCancelled(b, tokenCount));
}

export function pong(requestId, nonce) {
  const b = new flatbuffers.Builder(64);
  return finish(b, requestId, fb.Body.Pong, fb.Pong.createPong(b, BigInt(nonce)));
}

/** A frame of body type `type` with an empty table as its body (for unknown or misplaced types). */
export function emptyBody(requestId, type) {
  const b = new flatbuffers.Builder(64);
  b.startObject(0);
  return finish(b, requestId, type, b.endObject());
}

export function concat(...frames) {
  const out = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const f of frames) {
    out.set(f, at);
    at += f.length;
  }
  return out;
}
