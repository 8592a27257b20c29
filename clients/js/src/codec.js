/**
 * The wire format (PROTOCOL.md sections 1 and 2): size-prefixed FlatBuffers frames with file
 * identifier "SFTS", written and read with the official `flatbuffers` runtime and the code that
 * `flatc --ts` generated from proto/src/main/fbs/stream.fbs (src/generated, compiled to build/).
 *
 * Encoders return one whole frame (length prefix included) as a Uint8Array. `decodeFrame` turns one
 * whole frame into a plain object: every field copied out eagerly through a bounds-checked
 * ByteBuffer, so a malformed frame fails here with a PROTOCOL_ERROR naming the problem instead of
 * yielding garbage later.
 */
import * as flatbuffers from 'flatbuffers';
import * as fb from '../build/generated/stream_generated.js';
import { ErrorCode, ShiftformerError } from './errors.js';

export const FILE_IDENTIFIER = 'SFTS';
/** Smallest legal payload length: root offset, identifier and one table header. */
export const MIN_PAYLOAD_BYTES = 12;
/** Payload limit before the Welcome has announced the server's. */
export const PRE_WELCOME_MAX_PAYLOAD_BYTES = 65536;
export const PROTOCOL_VERSION = 1;
/** Longest name (client_name, server_name, ...) in UTF-8 bytes (PROTOCOL.md section 2). */
export const MAX_NAME_BYTES = 1024;

/** Body type numbers (the `Body` union of stream.fbs). */
export const BodyType = Object.freeze({
  Hello: fb.Body.Hello,
  Welcome: fb.Body.Welcome,
  ModelInfoRequest: fb.Body.ModelInfoRequest,
  ModelInfo: fb.Body.ModelInfo,
  TranslateRequest: fb.Body.TranslateRequest,
  Token: fb.Body.Token,
  Done: fb.Body.Done,
  Error: fb.Body.Error,
  Cancel: fb.Body.Cancel,
  Cancelled: fb.Body.Cancelled,
  Ping: fb.Body.Ping,
  Pong: fb.Body.Pong,
});

const TYPE_NAMES = new Map(Object.entries(BodyType).map(([name, n]) => [n, name]));
const UINT64_MAX = (1n << 64n) - 1n;
const UINT_LIMIT = 2 ** 31; // PROTOCOL.md 2: uint fields stay below 2^31
/** Web API, in Node.js and browsers alike (the console runs this module in the page). */
const UTF8 = new TextEncoder();

function protocolError(message) {
  return new ShiftformerError(ErrorCode.PROTOCOL_ERROR, message);
}

// ---- reading frames off a byte stream ---------------------------------------------------------

/**
 * Reassembles frames from the chunks a stream delivers: a frame may be split across any number of
 * chunks and a chunk may hold several frames. A length prefix outside [12, limit] is rejected as soon
 * as its 4 bytes have arrived, without buffering the frame.
 */
export class FrameReader {
  /** @param {number} maxPayloadBytes the largest accepted payload length L */
  constructor(maxPayloadBytes = PRE_WELCOME_MAX_PAYLOAD_BYTES) {
    this.maxPayloadBytes = maxPayloadBytes;
    this.chunks = [];
    this.buffered = 0;
    this.need = -1; // total bytes of the frame being assembled, -1 until its prefix is known
  }

  /**
   * Adds a chunk and returns the frames it completed, each a fresh Uint8Array holding the whole frame
   * (length prefix included, so FlatBuffers alignment counts from its byte 0).
   * @param {Uint8Array} chunk
   * @returns {Uint8Array[]}
   */
  push(chunk) {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames = [];
    for (;;) {
      if (this.need < 0) {
        if (this.buffered < 4) {
          break;
        }
        const prefix = this.peek(4);
        const length = (prefix[0] | prefix[1] << 8 | prefix[2] << 16 | prefix[3] << 24) >>> 0;
        if (length > this.maxPayloadBytes) {
          throw protocolError(`frame: length prefix ${length} exceeds the limit of ${this.maxPayloadBytes} bytes`);
        }
        if (length < MIN_PAYLOAD_BYTES) {
          throw protocolError(`frame: length prefix ${length} is below the minimum of ${MIN_PAYLOAD_BYTES} bytes`);
        }
        this.need = 4 + length;
      }
      if (this.buffered < this.need) {
        break;
      }
      frames.push(this.take(this.need));
      this.need = -1;
    }
    return frames;
  }

  /** Bytes received but not yet returned as a frame (a partial frame). */
  get pendingBytes() {
    return this.buffered;
  }

  peek(n) {
    const first = this.chunks[0];
    if (first.length >= n) {
      return first;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    for (const c of this.chunks) {
      const k = Math.min(c.length, n - filled);
      out.set(c.subarray(0, k), filled);
      filled += k;
      if (filled === n) {
        break;
      }
    }
    return out;
  }

  take(n) {
    const out = new Uint8Array(n); // a copy: byteOffset 0 and independent of the socket's buffers
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - filled);
      out.set(k === c.length ? c : c.subarray(0, k), filled);
      filled += k;
      if (k === c.length) {
        this.chunks.shift();
      } else {
        this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    return out;
  }
}

// ---- writing frames ---------------------------------------------------------------------------

function finish(builder, requestId, bodyType, body) {
  fb.Frame.startFrame(builder);
  fb.Frame.addRequestId(builder, BigInt(requestId));
  fb.Frame.addBodyType(builder, bodyType);
  fb.Frame.addBody(builder, body);
  const frame = fb.Frame.endFrame(builder);
  builder.finishSizePrefixed(frame, FILE_IDENTIFIER);
  return builder.asUint8Array().slice();
}

function checkUint(name, value, max) {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new ShiftformerError(ErrorCode.INVALID_ARGUMENT, `${name} must be an integer in 0..${max}, got ${value}`);
  }
}

/** Checks a request id: a non-zero unsigned 64-bit value (number or bigint); returns it as a bigint. */
export function requestIdOf(id, what = 'request id') {
  let big;
  if (typeof id === 'bigint') {
    big = id;
  } else if (Number.isSafeInteger(id)) {
    big = BigInt(id);
  } else {
    throw new ShiftformerError(ErrorCode.INVALID_ARGUMENT, `${what} must be a safe integer or a bigint, got ${id}`);
  }
  if (big < 0n || big > UINT64_MAX) {
    throw new ShiftformerError(ErrorCode.INVALID_ARGUMENT, `${what} ${big} is outside 0..2^64-1`);
  }
  return big;
}

/**
 * `Hello { min_version, max_version, client_name, token }`, request id 0. `token` (a bearer token for a
 * server with a tokens file, PROTOCOL.md section 3) is left out of the frame when undefined or null.
 * Error messages give lengths only, never the token.
 *
 * @param {string} clientName
 * @param {{token?: string|null, minVersion?: number, maxVersion?: number}} [o]
 */
export function encodeHello(clientName, { token = null, minVersion = PROTOCOL_VERSION, maxVersion = PROTOCOL_VERSION } = {}) {
  checkName('clientName', clientName, 0);
  if (token !== null) {
    checkName('token', token, 1);
  }
  const b = new flatbuffers.Builder(128);
  const name = b.createString(clientName);
  // 0 is "absent": the generated createHello writes whatever offset it is given.
  const tokenOffset = token === null ? 0 : b.createString(token);
  return finish(b, 0n, fb.Body.Hello, fb.Hello.createHello(b, minVersion, maxVersion, name, tokenOffset));
}

/** A string of `min`..MAX_NAME_BYTES UTF-8 bytes; the message names the length, not the value. */
function checkName(what, value, min) {
  const bytes = typeof value === 'string' ? UTF8.encode(value).length : -1;
  if (bytes < min || bytes > MAX_NAME_BYTES) {
    throw new ShiftformerError(ErrorCode.INVALID_ARGUMENT,
      `${what} must be a string of ${min} to ${MAX_NAME_BYTES} UTF-8 bytes, got ${bytes >= 0 ? `${bytes} bytes` : typeof value}`);
  }
}

/**
 * `TranslateRequest`. `source` is a string (tokenized by the server) or an array of token ids.
 * @param {bigint} requestId
 * @param {string|number[]|Int32Array} source
 * @param {{beamWidth?: number, maxNewTokens?: number, alphaQ8?: number, deadlineMs?: number, stream?: boolean}} o
 */
export function encodeTranslateRequest(requestId, source, o = {}) {
  const beamWidth = o.beamWidth ?? 1;
  const maxNewTokens = o.maxNewTokens ?? 0;
  const alphaQ8 = o.alphaQ8 ?? 0;
  const deadlineMs = o.deadlineMs ?? 0;
  checkUint('beamWidth', beamWidth, 0xffff);
  checkUint('maxNewTokens', maxNewTokens, UINT_LIMIT - 1);
  checkUint('alphaQ8', alphaQ8, 0xffff);
  checkUint('deadlineMs', deadlineMs, UINT_LIMIT - 1);
  const isText = typeof source === 'string';
  if (!isText && !Array.isArray(source) && !(source instanceof Int32Array)) {
    throw new ShiftformerError(ErrorCode.INVALID_ARGUMENT,
      `the source must be a string or an array of token ids, got ${source === null ? 'null' : typeof source}`);
  }
  if (!isText) {
    for (let i = 0; i < source.length; i++) {
      const t = source[i];
      if (!Number.isInteger(t) || t < -(2 ** 31) || t >= 2 ** 31) {
        throw new ShiftformerError(ErrorCode.INVALID_ARGUMENT, `token ${i} must be a 32-bit integer, got ${t}`);
      }
    }
  }
  const b = new flatbuffers.Builder(64 + (isText ? 3 : 4) * source.length);
  const text = isText ? b.createString(source) : 0;
  const tokens = isText ? 0 : fb.TranslateRequest.createTokensVector(b, source);
  const params = fb.DecodeParams.createDecodeParams(b, beamWidth, maxNewTokens, alphaQ8);
  fb.TranslateRequest.startTranslateRequest(b);
  if (text) {
    fb.TranslateRequest.addText(b, text);
  } else {
    fb.TranslateRequest.addTokens(b, tokens);
  }
  fb.TranslateRequest.addParams(b, params);
  fb.TranslateRequest.addDeadlineMs(b, deadlineMs);
  fb.TranslateRequest.addStream(b, o.stream ?? true);
  return finish(b, requestId, fb.Body.TranslateRequest, fb.TranslateRequest.endTranslateRequest(b));
}

/** `Cancel` for a request id. */
export function encodeCancel(requestId) {
  const b = new flatbuffers.Builder(64);
  return finish(b, requestId, fb.Body.Cancel, fb.Cancel.createCancel(b));
}

/** `Ping { nonce }`, request id 0. */
export function encodePing(nonce) {
  const b = new flatbuffers.Builder(64);
  return finish(b, 0n, fb.Body.Ping, fb.Ping.createPing(b, BigInt(nonce)));
}

/** `ModelInfoRequest`, request id 0. */
export function encodeModelInfoRequest() {
  const b = new flatbuffers.Builder(64);
  return finish(b, 0n, fb.Body.ModelInfoRequest, fb.ModelInfoRequest.createModelInfoRequest(b));
}

// ---- reading one frame ------------------------------------------------------------------------

/**
 * A ByteBuffer whose every read is checked against the frame's bounds (the stock one reads
 * `undefined` past the end and turns it into 0), and whose strings must be NUL-terminated UTF-8.
 */
class CheckedByteBuffer extends flatbuffers.ByteBuffer {
  constructor(bytes) {
    super(bytes);
    this.strictUtf8 = new TextDecoder('utf-8', { fatal: true });
  }

  check(offset, size) {
    if (!Number.isInteger(offset) || offset < 0 || offset + size > this.capacity()) {
      throw protocolError(`frame: bad FlatBuffers offset: ${size} byte(s) at ${offset} in a ${this.capacity()}-byte frame`);
    }
  }

  readUint8(offset) {
    this.check(offset, 1);
    return super.readUint8(offset);
  }

  readUint16(offset) {
    this.check(offset, 2);
    return super.readUint16(offset);
  }

  readInt32(offset) {
    this.check(offset, 4);
    return super.readInt32(offset);
  }

  __string(offset, encoding) {
    const start = offset + this.readInt32(offset);
    const length = this.readUint32(start);
    this.check(start + 4, length + 1);
    if (this.bytes()[start + 4 + length] !== 0) {
      throw protocolError(`frame: string at ${start} is not NUL-terminated`);
    }
    const bytes = this.bytes().subarray(start + 4, start + 4 + length);
    return encoding === flatbuffers.Encoding.UTF8_BYTES ? bytes : this.utf8(bytes, `string at ${start}`);
  }

  utf8(bytes, what) {
    try {
      return this.strictUtf8.decode(bytes);
    } catch {
      throw protocolError(`frame: ${what} is not well-formed UTF-8`);
    }
  }

  __vector_len(offset) {
    const n = super.__vector_len(offset);
    if (n < 0) {
      throw protocolError(`frame: vector at ${offset} has a negative length`);
    }
    return n;
  }
}

function uint(name, value) {
  if (value >= UINT_LIMIT) {
    throw protocolError(`frame: ${name} ${value} is not below 2^31`);
  }
  return value;
}

function ints(length, get) {
  const out = new Array(length);
  for (let i = 0; i < length; i++) {
    out[i] = get(i);
  }
  return out;
}

function bytesOf(bb, length, get) {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    out[i] = get(i);
  }
  return out;
}

function backend(t) {
  return t === null ? null : { name: t.name() ?? '', device: t.device() ?? '', version: t.version() ?? '' };
}

function params(t) {
  return t === null ? null : {
    beamWidth: t.beamWidth(),
    maxNewTokens: uint('DecodeParams.max_new_tokens', t.maxNewTokens()),
    alphaQ8: t.alphaQ8(),
  };
}

const BODY_DECODERS = {
  [fb.Body.Hello]: (t) => ({ minVersion: t.minVersion(), maxVersion: t.maxVersion(), clientName: t.clientName() ?? '',
    token: t.token() }),
  [fb.Body.Welcome]: (t) => {
    const m = t.model();
    return {
      version: t.version(),
      serverName: t.serverName() ?? '',
      serverVersion: t.serverVersion() ?? '',
      maxFrameBytes: uint('Welcome.max_frame_bytes', t.maxFrameBytes()),
      maxInFlight: uint('Welcome.max_in_flight', t.maxInFlight()),
      maxBeamWidth: t.maxBeamWidth(),
      model: m === null ? null : {
        sha256: m.sha256() ?? '',
        backend: backend(m.backend()),
        vocabSize: uint('ModelSummary.vocab_size', m.vocabSize()),
        maxPositions: uint('ModelSummary.max_positions', m.maxPositions()),
      },
    };
  },
  [fb.Body.ModelInfoRequest]: () => ({}),
  [fb.Body.ModelInfo]: (t) => {
    const c = t.config();
    return {
      config: c === null ? null : {
        dModel: c.dModel(),
        heads: c.heads(),
        dFf: c.dFf(),
        encoderLayers: c.encoderLayers(),
        decoderLayers: c.decoderLayers(),
        vocabSize: c.vocabSize(),
        maxPositions: c.maxPositions(),
        embedScaleLog2: c.embedScaleLog2(),
        padId: c.padId(),
        bosId: c.bosId(),
        eosId: c.eosId(),
      },
      sha256: t.sha256() ?? '',
      backend: backend(t.backend()),
      tokenizerKind: t.tokenizerKind() ?? '',
      trainer: t.trainer() ?? '',
    };
  },
  [fb.Body.TranslateRequest]: (t) => ({
    text: t.text(),
    tokens: t.tokensLength() > 0 ? ints(t.tokensLength(), (i) => t.tokens(i)) : null,
    params: params(t.params()),
    deadlineMs: uint('TranslateRequest.deadline_ms', t.deadlineMs()),
    stream: t.stream(),
  }),
  [fb.Body.Token]: (t, bb) => ({
    token: t.token(),
    index: uint('Token.index', t.index()),
    text: bb.utf8(bytesOf(bb, t.textLength(), (i) => t.text(i)), 'Token.text'),
    deviceCycles: t.deviceCycles(),
  }),
  [fb.Body.Done]: (t, bb) => ({
    tokenCount: uint('Done.token_count', t.tokenCount()),
    finishedByEos: t.finishedByEos(),
    score: t.score(),
    queueNs: t.queueNs(),
    firstTokenNs: t.firstTokenNs(),
    totalNs: t.totalNs(),
    deviceCycles: t.deviceCycles(),
    backend: backend(t.backend()),
    modelSha256: t.modelSha256() ?? '',
    params: params(t.params()),
    tokens: ints(t.tokensLength(), (i) => t.tokens(i)),
    text: t.text() ?? '',
    textTail: bb.utf8(bytesOf(bb, t.textTailLength(), (i) => t.textTail(i)), 'Done.text_tail'),
  }),
  [fb.Body.Error]: (t) => ({ code: t.code(), message: t.message() ?? '' }),
  [fb.Body.Cancel]: () => ({}),
  [fb.Body.Cancelled]: (t) => ({ tokenCount: uint('Cancelled.token_count', t.tokenCount()) }),
  [fb.Body.Ping]: (t) => ({ nonce: t.nonce() }),
  [fb.Body.Pong]: (t) => ({ nonce: t.nonce() }),
};

const BODY_CLASSES = {
  [fb.Body.Hello]: fb.Hello,
  [fb.Body.Welcome]: fb.Welcome,
  [fb.Body.ModelInfoRequest]: fb.ModelInfoRequest,
  [fb.Body.ModelInfo]: fb.ModelInfo,
  [fb.Body.TranslateRequest]: fb.TranslateRequest,
  [fb.Body.Token]: fb.Token,
  [fb.Body.Done]: fb.Done,
  [fb.Body.Error]: fb.Error,
  [fb.Body.Cancel]: fb.Cancel,
  [fb.Body.Cancelled]: fb.Cancelled,
  [fb.Body.Ping]: fb.Ping,
  [fb.Body.Pong]: fb.Pong,
};

/**
 * Decodes one whole frame (as FrameReader returns it) into `{ requestId: bigint, type: 'Token', ...fields }`
 * (`type` is the body's name, `bodyType` its number). Throws a PROTOCOL_ERROR ShiftformerError that
 * names the problem for a malformed frame or an unknown message type.
 * @param {Uint8Array} frame
 */
export function decodeFrame(frame) {
  if (frame.length < 4 + MIN_PAYLOAD_BYTES) {
    throw protocolError(`frame: ${frame.length} bytes are too short for a frame`);
  }
  const bb = new CheckedByteBuffer(frame);
  const length = bb.readUint32(0);
  if (length !== frame.length - 4) {
    throw protocolError(`frame: length prefix ${length} does not match the ${frame.length - 4} payload bytes`);
  }
  bb.setPosition(4);
  if (!fb.Frame.bufferHasIdentifier(bb)) {
    const id = Array.from(frame.subarray(8, 12), (c) => c.toString(16).padStart(2, '0')).join(' ');
    throw protocolError(`frame: file identifier is ${id}, not "${FILE_IDENTIFIER}"`);
  }
  bb.setPosition(0);
  try {
    const root = fb.Frame.getSizePrefixedRootAsFrame(bb);
    const type = root.bodyType();
    const Body = BODY_CLASSES[type];
    if (Body === undefined) {
      throw protocolError(`frame: unknown message type ${type}`);
    }
    const body = root.body(new Body());
    if (body === null) {
      throw protocolError(`frame: ${TYPE_NAMES.get(type)} frame without its required body`);
    }
    return { requestId: root.requestId(), type: TYPE_NAMES.get(type), bodyType: type, ...BODY_DECODERS[type](body, bb) };
  } catch (e) {
    if (e instanceof ShiftformerError) {
      throw e;
    }
    throw new ShiftformerError(ErrorCode.PROTOCOL_ERROR, `frame: malformed FlatBuffer (${e.message})`, { cause: e });
  }
}
