/**
 * The connection: one TCP socket (Node's `net`) or one TLS session over it (`node:tls`), the
 * Hello/Welcome handshake, and any number of concurrent translate requests on it, each named by a
 * client-chosen id (PROTOCOL.md sections 3-7).
 */
import net from 'node:net';
import tls from 'node:tls';
import {
  BodyType,
  FrameReader,
  PROTOCOL_VERSION,
  decodeFrame,
  encodeCancel,
  encodeHello,
  encodeModelInfoRequest,
  encodePing,
  encodeTranslateRequest,
  requestIdOf,
} from './codec.js';
import { CancelledError, ErrorCode, ShiftformerError } from './errors.js';

const DEFAULT_CLIENT_NAME = 'shiftformer-client-js 0.1.0';
const CLIENT_TO_SERVER = new Set([BodyType.Hello, BodyType.ModelInfoRequest, BodyType.TranslateRequest,
  BodyType.Cancel, BodyType.Ping]);
/** What the `tls` option of connect may hold: nothing that turns verification off. */
const TLS_KEYS = ['ca', 'cert', 'key', 'servername'];

/**
 * TLS settings of {@link connect}. The server's certificate is always verified against `ca` (or Node's
 * default CA store) and checked for `servername`, as HTTPS does.
 *
 * @typedef {object} TlsOptions
 * @property {string|Buffer|Array<string|Buffer>} [ca] PEM CA certificates to trust instead of Node's
 *   default CA store
 * @property {string|Buffer|Array<string|Buffer>} [cert] PEM client certificate chain, for a server
 *   that requires one (with `key`)
 * @property {string|Buffer} [key] PEM private key of `cert`
 * @property {string} [servername] the name the server's certificate must carry, and the SNI name;
 *   default: `host`. For an IP address no SNI is sent (RFC 6066) and the certificate must carry that
 *   IP address.
 */

/**
 * Options of {@link connect}.
 *
 * @typedef {object} ConnectOptions
 * @property {string} [host] default '127.0.0.1'
 * @property {number} port
 * @property {string} [clientName] Hello.client_name, at most 1024 UTF-8 bytes
 * @property {number} [connectTimeoutMs] until the Welcome (TCP, TLS and Hello), default 30,000
 * @property {number} [keepAliveMs] default 60,000; 0: no keep-alive pings
 * @property {boolean|TlsOptions} [tls] speak TLS: `true` trusts Node's default CA store; absent or
 *   false: plaintext
 * @property {string} [token] bearer token sent in Hello.token, for a server with a tokens file (1 to
 *   1024 UTF-8 bytes); never part of an error message
 */

/**
 * Opens a connection and negotiates the protocol version. Resolves with a {@link Client} once the
 * server's `Welcome` has arrived; rejects with a ShiftformerError (UNSUPPORTED_VERSION when the server
 * speaks no common version, UNAUTHENTICATED when it requires a token and `token` is missing or not
 * one it accepts, IO_ERROR when the connection fails or closes first, PROTOCOL_ERROR for a malformed
 * answer, INVALID_ARGUMENT for a bad option).
 *
 * `keepAliveMs` (default 60,000; 0 turns it off): a connection that has sent and received nothing for
 * that long sends a Ping, so that the server's idle timeout (PROTOCOL.md section 3, 5 minutes by
 * default) does not close a connection kept open between requests; `client.keepAlivePings` counts them.
 *
 * `tls` (see {@link TlsOptions}): the Hello is sent only once the TLS handshake has verified the
 * server. A failed handshake (an untrusted certificate, a wrong name, a client certificate the server
 * refuses or misses) rejects with IO_ERROR "TLS handshake with HOST:PORT failed: ...".
 *
 * @param {ConnectOptions} options
 * @returns {Promise<Client>}
 */
export function connect(options) {
  const { host = '127.0.0.1', port, clientName = DEFAULT_CLIENT_NAME, connectTimeoutMs = 30_000,
    keepAliveMs = 60_000, tls: tlsOption, token } = options ?? {};
  let hello;
  let tlsOptions;
  try {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new ShiftformerError(ErrorCode.INVALID_ARGUMENT, `port must be an integer in 1..65535, got ${port}`);
    }
    if (!Number.isInteger(keepAliveMs) || keepAliveMs < 0 || keepAliveMs > 2 ** 31 - 1) {
      throw new ShiftformerError(ErrorCode.INVALID_ARGUMENT,
        `keepAliveMs must be an integer in 0..2^31-1 (0: no keep-alive pings), got ${keepAliveMs}`);
    }
    hello = encodeHello(clientName, { token: token ?? null });
    tlsOptions = tlsOption === undefined || tlsOption === false ? null : tlsConnectOptions(host, tlsOption);
  } catch (e) {
    return Promise.reject(e);
  }
  return new Promise((resolve, reject) => {
    const socket = tlsOptions === null ? net.connect({ host, port }) : tls.connect({ ...tlsOptions, host, port });
    const client = new Client(socket, `${host}:${port}`, tlsOptions !== null);
    const timer = setTimeout(() => {
      client.fail(new ShiftformerError(ErrorCode.IO_ERROR, `no Welcome from ${host}:${port} within ${connectTimeoutMs} ms`));
    }, connectTimeoutMs);
    client.handshake = {
      resolve: (c) => {
        clearTimeout(timer);
        if (keepAliveMs > 0) {
          // 'timeout' fires once the socket has been idle (nothing read or written) that long; the Ping re-arms it.
          socket.setTimeout(keepAliveMs);
          socket.on('timeout', () => c.keepAlive());
        }
        resolve(c);
      },
      reject: (e) => {
        clearTimeout(timer);
        reject(e);
      },
    };
    socket.once('connect', () => {
      socket.setNoDelay(true);
    });
    // Over TLS, nothing (the token least of all) is written before the handshake has verified the server.
    socket.once(tlsOptions === null ? 'connect' : 'secureConnect', () => {
      socket.write(hello);
    });
  });
}

/**
 * The options for `tls.connect` (without host and port) that `tls` of connect asks for: verification
 * always on, the certificate's name checked against `servername` (default: `host`), SNI only for a name.
 * Throws INVALID_ARGUMENT for an option it does not take or PEM data it cannot use.
 */
function tlsConnectOptions(host, option) {
  if (option !== true && (option === null || typeof option !== 'object' || Array.isArray(option))) {
    throw new ShiftformerError(ErrorCode.INVALID_ARGUMENT,
      `tls must be true or an object {${TLS_KEYS.join(', ')}}, got ${option === null ? 'null' : typeof option}`);
  }
  const given = option === true ? {} : option;
  const unknown = Object.keys(given).filter((k) => !TLS_KEYS.includes(k));
  if (unknown.length > 0) {
    throw new ShiftformerError(ErrorCode.INVALID_ARGUMENT, `tls takes ${TLS_KEYS.join(', ')} only (the server's `
      + `certificate and name are always verified), got ${unknown.join(', ')}`);
  }
  const { ca, cert, key, servername = host } = given;
  if ((cert === undefined) !== (key === undefined)) {
    throw new ShiftformerError(ErrorCode.INVALID_ARGUMENT, 'tls: a client certificate needs its key and a key its '
      + `certificate (got ${cert === undefined ? 'a key' : 'a certificate'} alone)`);
  }
  if (typeof servername !== 'string' || servername === '') {
    throw new ShiftformerError(ErrorCode.INVALID_ARGUMENT, `tls.servername must be a non-empty string, got ${typeof servername}`);
  }
  let secureContext;
  try {
    secureContext = tls.createSecureContext({ ca, cert, key, minVersion: 'TLSv1.2' });
  } catch (e) {
    throw new ShiftformerError(ErrorCode.INVALID_ARGUMENT, `tls: cannot use ${ca === undefined ? '' : 'ca, '}`
      + `${cert === undefined ? '' : 'cert and key, '}PEM data: ${e.message}`, { cause: e });
  }
  return {
    secureContext,
    rejectUnauthorized: true,
    // RFC 6066 allows no IP address as SNI; checkServerIdentity then checks the certificate's IP SANs.
    servername: net.isIP(servername) === 0 ? servername : undefined,
    checkServerIdentity: (_, certificate) => tls.checkServerIdentity(servername, certificate),
  };
}

/**
 * One open connection to a shiftformer server. Obtain it from {@link connect}.
 *
 * `welcome` is the server's Welcome (negotiated `version`, `serverName`, `serverVersion`,
 * `maxFrameBytes`, `maxInFlight`, `maxBeamWidth`), `model` its ModelSummary (`sha256`, `backend`,
 * `vocabSize`, `maxPositions`); `modelInfo()` asks for the full ModelInfo. `closed` resolves (never
 * rejects) with the reason the connection ended, a ShiftformerError, once it has.
 */
export class Client {
  /** @private use connect() */
  constructor(socket, address, secure = false) {
    this.socket = socket;
    this.address = address;
    /** True for a TLS connection. */
    this.secure = secure;
    this.tcpConnected = false;
    this.tlsConnected = false;
    this.reader = new FrameReader();
    this.welcome = null;
    this.model = null;
    this.handshake = null;
    /** @type {Map<bigint, Translation>} translate requests in flight, by id */
    this.inFlight = new Map();
    this.pings = new Map(); // nonce -> {resolve, reject, sentAt}
    this.modelInfos = []; // FIFO of {resolve, reject}
    this.nextId = 1n;
    this.nextNonce = 1n;
    /** Pings this client sent by itself to keep an idle connection open (`keepAliveMs` of connect). */
    this.keepAlivePings = 0;
    this.failure = null;
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    socket.once('connect', () => {
      this.tcpConnected = true;
    });
    socket.once('secureConnect', () => {
      this.tlsConnected = true;
    });
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', (e) => this.fail(this.tlsHandshakeFailed(e)
      ? new ShiftformerError(ErrorCode.IO_ERROR, `TLS handshake with ${address} failed: ${tlsReason(e)}`, { cause: e })
      : new ShiftformerError(ErrorCode.IO_ERROR, `connection to ${address} failed: ${e.message}`, { cause: e })));
    socket.on('close', () => this.fail(new ShiftformerError(ErrorCode.IO_ERROR, this.tlsHandshakeFailed(null)
      ? `TLS handshake with ${address} failed: the server closed the connection`
      : `connection to ${address} closed`)));
  }

  /**
   * @private whether `e` (null: the socket closed) ends the TLS handshake: it came after TCP connected
   * and before the handshake was done, or, before the Welcome, is a TLS alert from the server (with TLS
   * 1.3 the client's side of the handshake is done before the server has checked the client's
   * certificate, so its refusal arrives as an alert after 'secureConnect').
   */
  tlsHandshakeFailed(e) {
    return this.secure && this.tcpConnected && this.welcome === null
      && (!this.tlsConnected || (typeof e?.code === 'string' && e.code.startsWith('ERR_SSL_')));
  }

  /** @private the socket was idle for `keepAliveMs`: a Ping keeps the server's idle timeout away. */
  keepAlive() {
    if (this.failure === null) {
      this.keepAlivePings += 1;
      this.ping().catch(() => {}); // a lost connection fails it; the connection's `closed` says why
    }
  }

  /** Translate requests of this connection still waiting for their terminal frame. */
  get inFlightCount() {
    return this.inFlight.size;
  }

  /**
   * Sends a translate request and returns its {@link Translation} at once (tokens and result arrive
   * later). Throws a ShiftformerError synchronously for a bad argument (INVALID_ARGUMENT: e.g. an id
   * of 0 or one still in flight) or a closed connection (IO_ERROR).
   *
   * @param {string|number[]|Int32Array} source text (the server tokenizes it) or source token ids
   *   without the trailing EOS
   * @param {{id?: number|bigint, beamWidth?: number, maxNewTokens?: number, alpha?: number,
   *   alphaQ8?: number, deadlineMs?: number, stream?: boolean, signal?: AbortSignal}} [options]
   *   `id`: the request id, non-zero and not in flight (default: the next free one of a counter);
   *   `alpha`: the length penalty as a number 0..2 (sent as floor(alpha * 256 + 0.5)) or `alphaQ8`
   *   directly; `signal`: aborting it cancels the request.
   * @returns {Translation}
   */
  translate(source, options = {}) {
    this.checkOpen();
    const id = options.id === undefined ? this.freeId() : requestIdOf(options.id);
    if (id === 0n) {
      throw new ShiftformerError(ErrorCode.INVALID_ARGUMENT, 'request id 0 is reserved for connection-level frames');
    }
    if (this.inFlight.has(id)) {
      throw new ShiftformerError(ErrorCode.INVALID_ARGUMENT, `request id ${id} is still in flight on this connection`);
    }
    if (options.alpha !== undefined && options.alphaQ8 !== undefined) {
      throw new ShiftformerError(ErrorCode.INVALID_ARGUMENT, 'give alpha or alphaQ8, not both');
    }
    let alphaQ8 = options.alphaQ8;
    if (options.alpha !== undefined) {
      if (typeof options.alpha !== 'number' || !Number.isFinite(options.alpha) || options.alpha < 0) {
        throw new ShiftformerError(ErrorCode.INVALID_ARGUMENT, `alpha must be a finite number >= 0, got ${options.alpha}`);
      }
      alphaQ8 = Math.floor(options.alpha * 256 + 0.5);
    }
    const frame = encodeTranslateRequest(id, source, { ...options, alphaQ8 });
    this.checkFrameSize(frame, `request ${id}`);
    const translation = new Translation(this, id, options.stream ?? true);
    this.inFlight.set(id, translation);
    this.socket.write(frame);
    if (options.signal) {
      translation.watch(options.signal);
    }
    return translation;
  }

  /**
   * Asks the server to stop request `id`. Resolves with its outcome (see {@link Translation#outcome});
   * for an id not in flight nothing is sent and it resolves with undefined.
   */
  cancel(id) {
    const translation = this.inFlight.get(requestIdOf(id));
    return translation === undefined ? Promise.resolve(undefined) : translation.cancel();
  }

  /**
   * Sends a Ping and resolves with `{ nonce, roundTripNs }` when its Pong arrives (a liveness and
   * round-trip check; answered independently of decoding load).
   */
  ping() {
    this.checkOpen();
    const nonce = this.nextNonce++;
    return new Promise((resolve, reject) => {
      this.pings.set(nonce, { resolve, reject, sentAt: process.hrtime.bigint() });
      this.socket.write(encodePing(nonce));
    });
  }

  /**
   * Asks for the served model's full ModelInfo: `{ config: {dModel, heads, dFf, encoderLayers,
   * decoderLayers, vocabSize, maxPositions, embedScaleLog2, padId, bosId, eosId}, sha256, backend,
   * tokenizerKind, trainer }`.
   */
  modelInfo() {
    this.checkOpen();
    return new Promise((resolve, reject) => {
      this.modelInfos.push({ resolve, reject });
      this.socket.write(encodeModelInfoRequest());
    });
  }

  /**
   * Closes the connection (the server cancels what is still in flight). Pending requests fail with
   * IO_ERROR. Resolves when the socket has closed.
   */
  close() {
    this.fail(new ShiftformerError(ErrorCode.IO_ERROR, `connection to ${this.address} closed by the client`));
    return this.closed;
  }

  // ---- internals ------------------------------------------------------------------------------

  checkOpen() {
    if (this.failure !== null) {
      throw new ShiftformerError(this.failure.codeNumber, `connection is closed: ${this.failure.detail}`,
        { cause: this.failure });
    }
  }

  checkFrameSize(frame, what) {
    const limit = this.welcome.maxFrameBytes;
    if (frame.length - 4 > limit) {
      throw new ShiftformerError(ErrorCode.INVALID_ARGUMENT,
        `${what} needs a ${frame.length - 4}-byte frame, above the server's limit of ${limit} bytes`);
    }
  }

  freeId() {
    while (this.nextId === 0n || this.inFlight.has(this.nextId)) {
      this.nextId = BigInt.asUintN(64, this.nextId + 1n);
    }
    const id = this.nextId;
    this.nextId = BigInt.asUintN(64, this.nextId + 1n);
    return id;
  }

  sendCancel(id) {
    if (this.failure === null) {
      this.socket.write(encodeCancel(id));
    }
  }

  onData(chunk) {
    if (this.failure !== null) {
      return;
    }
    try {
      for (const bytes of this.reader.push(chunk)) {
        this.onFrame(decodeFrame(bytes));
        if (this.failure !== null) {
          return;
        }
      }
    } catch (e) {
      const error = e instanceof ShiftformerError ? e
        : new ShiftformerError(ErrorCode.INTERNAL, `client bug while reading a frame: ${e.message}`, { cause: e });
      this.fail(error);
    }
  }

  onFrame(m) {
    if (CLIENT_TO_SERVER.has(m.bodyType)) {
      throw new ShiftformerError(ErrorCode.PROTOCOL_ERROR, `frame: the server sent a client-to-server ${m.type}`);
    }
    if (this.welcome === null) {
      this.onHandshakeFrame(m);
      return;
    }
    switch (m.bodyType) {
      case BodyType.Token:
      case BodyType.Done:
      case BodyType.Cancelled:
        this.translationOf(m).onFrame(m);
        return;
      case BodyType.Error:
        if (m.requestId === 0n) {
          this.fail(new ShiftformerError(m.code, `server closed the connection: ${m.message}`));
        } else {
          this.translationOf(m).onFrame(m);
        }
        return;
      case BodyType.Pong: {
        const ping = this.pings.get(m.nonce);
        if (ping === undefined) {
          throw new ShiftformerError(ErrorCode.PROTOCOL_ERROR, `frame: Pong with nonce ${m.nonce} that was never sent`);
        }
        this.pings.delete(m.nonce);
        ping.resolve({ nonce: m.nonce, roundTripNs: process.hrtime.bigint() - ping.sentAt });
        return;
      }
      case BodyType.ModelInfo: {
        const waiter = this.modelInfos.shift();
        if (waiter === undefined) {
          throw new ShiftformerError(ErrorCode.PROTOCOL_ERROR, 'frame: ModelInfo that was never asked for');
        }
        const { requestId, type, bodyType, ...info } = m;
        waiter.resolve(info);
        return;
      }
      default:
        throw new ShiftformerError(ErrorCode.PROTOCOL_ERROR, `frame: unexpected ${m.type} after the Welcome`);
    }
  }

  onHandshakeFrame(m) {
    if (m.bodyType === BodyType.Welcome) {
      if (m.version !== PROTOCOL_VERSION) {
        throw new ShiftformerError(ErrorCode.PROTOCOL_ERROR,
          `frame: Welcome chose version ${m.version}, outside the offered ${PROTOCOL_VERSION}..${PROTOCOL_VERSION}`);
      }
      const { requestId, type, bodyType, model, ...welcome } = m;
      this.welcome = Object.freeze(welcome);
      this.model = Object.freeze(model);
      this.reader.maxPayloadBytes = welcome.maxFrameBytes;
      const handshake = this.handshake;
      this.handshake = null;
      handshake.resolve(this);
    } else if (m.bodyType === BodyType.Error) {
      this.fail(new ShiftformerError(m.code, m.message));
    } else {
      throw new ShiftformerError(ErrorCode.PROTOCOL_ERROR, `frame: expected Welcome or Error first, got ${m.type}`);
    }
  }

  translationOf(m) {
    const translation = this.inFlight.get(m.requestId);
    if (translation === undefined) {
      throw new ShiftformerError(ErrorCode.PROTOCOL_ERROR,
        `frame: ${m.type} for request ${m.requestId}, which is not in flight`);
    }
    return translation;
  }

  /** Called by a Translation when its terminal frame has arrived. */
  finished(translation) {
    this.inFlight.delete(translation.id);
  }

  /**
   * Ends the connection once: every pending request, ping and model-info request fails with `error`
   * (exactly once each), the socket is closed, and `closed` resolves with `error`.
   */
  fail(error) {
    if (this.failure !== null) {
      return;
    }
    this.failure = error;
    const pending = [...this.inFlight.values()];
    this.inFlight.clear();
    for (const t of pending) {
      t.onConnectionLost(error);
    }
    for (const p of this.pings.values()) {
      p.reject(error);
    }
    this.pings.clear();
    for (const w of this.modelInfos.splice(0)) {
      w.reject(error);
    }
    if (this.handshake !== null) {
      this.handshake.reject(error);
      this.handshake = null;
    }
    if (this.socket.destroyed) {
      this.resolveClosed(error);
    } else {
      this.socket.once('close', () => this.resolveClosed(error));
      // Our FIN, then destroy once it is written: a peer that never closes its side cannot keep us open.
      this.socket.end(() => this.socket.destroy());
    }
  }
}

/** OpenSSL's reason for its error ('tlsv13 alert certificate required'), else the message; with the code. */
function tlsReason(e) {
  const reason = e.library !== undefined && typeof e.reason === 'string' ? e.reason : e.message;
  return e.code === undefined ? reason : `${reason} (${e.code})`;
}

/**
 * One translate request: an async iterable of its token events and a promise of its result.
 *
 * - `for await (const t of translation)` yields `{ token, index, text, deviceCycles }` as the server
 *   streams them (none when `stream: false`). The loop ends after the last token when the request is
 *   done or was cancelled by the client, and throws the ShiftformerError when the request failed or
 *   the connection was lost. Leaving the loop early (break, return, throw) cancels the request.
 * - `result` resolves with the Done: `{ tokenCount, finishedByEos, score, queueNs, firstTokenNs,
 *   totalNs, deviceCycles, backend, modelSha256, params, tokens, text, textTail }` (times, cycles and
 *   score as bigints), or rejects with a ShiftformerError (the server's Error, a lost connection) or
 *   a CancelledError (its Cancel stopped it).
 * - `outcome` never rejects: `{ kind: 'done', done }`, `{ kind: 'cancelled', tokenCount }` or
 *   `{ kind: 'error', error }`.
 */
export class Translation {
  /** @private made by Client.translate */
  constructor(client, id, stream) {
    this.client = client;
    this.id = id;
    this.stream = stream;
    this.tokens = []; // events received, in order
    this.consumed = 0; // events the iterator has handed out
    this.iteratorClosed = false; // return() was called: the loop was left early
    this.waiter = null; // the iterator's pending next()
    this.terminal = null; // {kind, ...} once the terminal frame (or a loss) has arrived
    this.result = new Promise((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    this.result.catch(() => {}); // a caller that only iterates must not see an unhandled rejection
    this.outcome = this.result.then(
      (done) => ({ kind: 'done', done }),
      (error) => (error instanceof CancelledError ? { kind: 'cancelled', tokenCount: error.tokenCount }
        : { kind: 'error', error }));
  }

  /** True once the terminal frame has arrived (or the connection was lost). */
  get finished() {
    return this.terminal !== null;
  }

  /**
   * Asks the server to stop this request. Resolves with the outcome: usually `cancelled`, but a
   * request that finished meanwhile keeps its `done` or `error` (PROTOCOL.md section 6).
   */
  cancel() {
    if (this.terminal === null && !this.cancelSent) {
      this.cancelSent = true;
      this.client.sendCancel(this.id);
    }
    return this.outcome;
  }

  watch(signal) {
    if (signal.aborted) {
      this.cancel();
      return;
    }
    const onAbort = () => this.cancel();
    signal.addEventListener('abort', onAbort, { once: true });
    this.outcome.then(() => signal.removeEventListener('abort', onAbort));
  }

  onFrame(m) {
    switch (m.bodyType) {
      case BodyType.Token: {
        if (!this.stream) {
          throw new ShiftformerError(ErrorCode.PROTOCOL_ERROR, `frame: Token for request ${this.id}, which asked for no stream`);
        }
        if (m.index !== this.tokens.length) {
          throw new ShiftformerError(ErrorCode.PROTOCOL_ERROR,
            `frame: Token index ${m.index} for request ${this.id}, expected ${this.tokens.length}`);
        }
        this.tokens.push({ token: m.token, index: m.index, text: m.text, deviceCycles: m.deviceCycles });
        this.wake();
        return;
      }
      case BodyType.Done: {
        const { requestId, type, bodyType, ...done } = m;
        this.end({ kind: 'done' });
        this.resolveResult(done);
        return;
      }
      case BodyType.Cancelled:
        this.end({ kind: 'cancelled' });
        this.rejectResult(new CancelledError(this.id, m.tokenCount));
        return;
      case BodyType.Error: {
        const error = new ShiftformerError(m.code, m.message, { requestId: this.id });
        this.end({ kind: 'error', error });
        this.rejectResult(error);
        return;
      }
      default:
        throw new ShiftformerError(ErrorCode.PROTOCOL_ERROR, `frame: unexpected ${m.type} for request ${this.id}`);
    }
  }

  onConnectionLost(cause) {
    const error = new ShiftformerError(cause.codeNumber,
      `request ${this.id} has no terminal frame: ${cause.detail}`, { requestId: this.id, cause });
    this.end({ kind: 'error', error });
    this.rejectResult(error);
  }

  end(terminal) {
    this.terminal = terminal;
    this.client.finished(this);
    this.wake();
  }

  wake() {
    if (this.waiter !== null) {
      const { resolve, reject } = this.waiter;
      this.waiter = null;
      this.next().then(resolve, reject);
    }
  }

  /** The next token event, or the end (see the class comment). */
  next() {
    if (this.iteratorClosed) {
      return Promise.resolve({ value: undefined, done: true });
    }
    if (this.consumed < this.tokens.length) {
      return Promise.resolve({ value: this.tokens[this.consumed++], done: false });
    }
    if (this.terminal !== null) {
      return this.terminal.kind === 'error' ? Promise.reject(this.terminal.error)
        : Promise.resolve({ value: undefined, done: true });
    }
    if (this.waiter !== null) {
      return Promise.reject(new ShiftformerError(ErrorCode.INVALID_ARGUMENT,
        `request ${this.id}: next() called again before the previous next() settled`));
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** Leaving a for-await loop early cancels the request. */
  return() {
    this.cancel();
    this.iteratorClosed = true;
    if (this.waiter !== null) {
      this.waiter.resolve({ value: undefined, done: true });
      this.waiter = null;
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator]() {
    return this;
  }
}
