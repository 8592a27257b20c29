// The client against a real shiftformer server. The server's address and the expected decoding results
// come from the environment (cli's JsClientTest starts the servers, decodes the same requests locally and
// runs `npm test` with these set):
//   SHIFTFORMER_HOST, SHIFTFORMER_PORT   a server with the model the expected results were computed on
//   SHIFTFORMER_SLOW_PORT                a server whose requests run long (never EOS, slow steps)
//   SHIFTFORMER_EXPECTED                 a JSON file: the model summary and cases with expected tokens
//   SHIFTFORMER_TLS_PORT                 a server of the same model over TLS that requires a client
//                                        certificate of SHIFTFORMER_TLS_CA and the token SHIFTFORMER_TOKEN
//   SHIFTFORMER_TLS_CA, SHIFTFORMER_TLS_CLIENT_CERT, SHIFTFORMER_TLS_CLIENT_KEY, SHIFTFORMER_TLS_ROGUE_CA,
//   SHIFTFORMER_TLS_ROGUE_CERT, SHIFTFORMER_TLS_ROGUE_KEY, SHIFTFORMER_TLS_WRONG_NAME_CERT,
//   SHIFTFORMER_TLS_WRONG_NAME_KEY       PEM files made for the run (the files of the protocol module's TestPki)
//   SHIFTFORMER_TOKEN                    the TLS server's token
//   SHIFTFORMER_REQUIRE_SERVER=1         fail, rather than skip, when any of them is missing
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, CancelledError, ErrorCode, ShiftformerError } from '../src/index.js';
import * as frames from './support/server-frames.js';
import { scriptedServer } from './support/scripted-server.js';

const host = process.env.SHIFTFORMER_HOST ?? '127.0.0.1';
const port = Number(process.env.SHIFTFORMER_PORT ?? 0);
const slowPort = Number(process.env.SHIFTFORMER_SLOW_PORT ?? 0);
const expectedFile = process.env.SHIFTFORMER_EXPECTED;
const tlsPort = Number(process.env.SHIFTFORMER_TLS_PORT ?? 0);
const token = process.env.SHIFTFORMER_TOKEN;
const required = process.env.SHIFTFORMER_REQUIRE_SERVER === '1';
/** The PEM files of the TLS tests, by the name they are read under. */
const PKI_VARIABLES = {
  ca: 'SHIFTFORMER_TLS_CA',
  clientCert: 'SHIFTFORMER_TLS_CLIENT_CERT',
  clientKey: 'SHIFTFORMER_TLS_CLIENT_KEY',
  rogueCa: 'SHIFTFORMER_TLS_ROGUE_CA',
  rogueCert: 'SHIFTFORMER_TLS_ROGUE_CERT',
  rogueKey: 'SHIFTFORMER_TLS_ROGUE_KEY',
  wrongNameCert: 'SHIFTFORMER_TLS_WRONG_NAME_CERT',
  wrongNameKey: 'SHIFTFORMER_TLS_WRONG_NAME_KEY',
};

function skipUnless(ok, what) {
  if (ok) {
    return false;
  }
  if (required) {
    throw new Error(`SHIFTFORMER_REQUIRE_SERVER=1 but ${what} is not set`);
  }
  return `no server: set ${what} (cli's JsClientTest does) to run this test`;
}

const skipServer = skipUnless(port > 0 && expectedFile, 'SHIFTFORMER_PORT and SHIFTFORMER_EXPECTED');
const skipSlow = skipUnless(slowPort > 0, 'SHIFTFORMER_SLOW_PORT');
const expected = skipServer ? null : JSON.parse(readFileSync(expectedFile, 'utf8'));
const pkiUnset = Object.values(PKI_VARIABLES).filter((name) => !process.env[name]);
const skipPki = skipUnless(pkiUnset.length === 0, pkiUnset.join(', '));
const skipTls = skipServer || skipPki || skipUnless(tlsPort > 0 && token, 'SHIFTFORMER_TLS_PORT and SHIFTFORMER_TOKEN');
const pki = skipPki ? null
  : Object.fromEntries(Object.entries(PKI_VARIABLES).map(([key, name]) => [key, readFileSync(process.env[name])]));

function isCode(name, pattern) {
  return (e) => {
    assert.ok(e instanceof ShiftformerError, `a ShiftformerError, got ${e}`);
    assert.equal(e.code, name, e.message);
    assert.equal(e.codeNumber, ErrorCode[name]);
    if (pattern) {
      assert.match(e.message, pattern);
    }
    return true;
  };
}

/** An IO_ERROR of a failed TLS handshake with 127.0.0.1:`tlsPortOf`, whose detail matches `pattern`. */
function tlsHandshakeFailed(tlsPortOf, pattern) {
  return (e) => {
    isCode('IO_ERROR', pattern)(e);
    assert.ok(e.detail.startsWith(`TLS handshake with 127.0.0.1:${tlsPortOf} failed: `), e.message);
    assert.ok(!e.message.includes(token), 'the token is in no error message');
    return true;
  };
}

function request(c) {
  return [c.text ?? c.tokens, { beamWidth: c.beamWidth, maxNewTokens: c.maxNewTokens, alphaQ8: c.alphaQ8 }];
}

/** Collects a translation's token events and result, and checks them against the case's expectation. */
async function assertMatches(translation, c, what) {
  const events = [];
  for await (const e of translation) {
    events.push(e);
  }
  const done = await translation.result;
  const want = c.expected;
  assert.deepEqual(events.map((e) => e.token), want.tokens, `${what}: streamed tokens`);
  assert.deepEqual(events.map((e) => e.index), want.tokens.map((_, i) => i), `${what}: token indexes`);
  assert.deepEqual(done.tokens, want.tokens, `${what}: Done.tokens`);
  assert.equal(done.tokenCount, want.tokens.length);
  assert.equal(done.text, want.text, `${what}: Done.text`);
  assert.equal(events.map((e) => e.text).join('') + done.textTail, done.text, `${what}: Token texts + text_tail`);
  assert.equal(done.finishedByEos, want.finishedByEos, `${what}: finishedByEos`);
  assert.equal(done.score, BigInt(want.score), `${what}: score`);
  assert.deepEqual(done.params, { beamWidth: c.beamWidth, maxNewTokens: want.maxNewTokens, alphaQ8: c.alphaQ8 });
  assert.equal(done.modelSha256, expected.model.sha256);
  assert.deepEqual(done.backend, expected.model.backend);
  assert.ok(done.totalNs >= done.queueNs && done.totalNs >= done.firstTokenNs);
  return done;
}

test('connect negotiates version 1 and exposes the model', { skip: skipServer }, async () => {
  const client = await connect({ host, port, clientName: 'js server.test' });
  try {
    assert.equal(client.welcome.version, 1);
    assert.equal(client.welcome.serverName, 'shiftformer');
    assert.ok(client.welcome.maxFrameBytes >= 65536);
    assert.ok(client.welcome.maxInFlight >= 1);
    assert.deepEqual(client.model, {
      sha256: expected.model.sha256,
      backend: expected.model.backend,
      vocabSize: expected.model.vocabSize,
      maxPositions: expected.model.maxPositions,
    });
    const info = await client.modelInfo();
    assert.equal(info.sha256, expected.model.sha256);
    assert.equal(info.config.vocabSize, expected.model.vocabSize);
    assert.equal(info.config.maxPositions, expected.model.maxPositions);
    assert.equal(info.config.eosId, expected.model.eosId);
    assert.equal(info.tokenizerKind, 'byte-bpe');
  } finally {
    await client.close();
  }
});

test('several concurrent translations on one connection equal local decoding', { skip: skipServer }, async () => {
  const client = await connect({ host, port });
  try {
    assert.ok(expected.cases.length >= 10 && expected.cases.some((c) => c.beamWidth > 1) && expected.cases.some((c) => c.text));
    // All sent before any is read; client-chosen ids, some above 2^53 (ids are 64-bit).
    const ids = expected.cases.map((_, i) => (i % 2 === 0 ? BigInt(1000 + i) : (1n << 63n) + BigInt(i)));
    const translations = expected.cases.map((c, i) => {
      const [source, options] = request(c);
      return client.translate(source, { ...options, id: ids[i] });
    });
    assert.equal(client.inFlightCount, expected.cases.length);
    assert.deepEqual(translations.map((t) => t.id), ids);
    await Promise.all(translations.map((t, i) => assertMatches(t, expected.cases[i], `case ${i} (id ${ids[i]})`)));
    assert.equal(client.inFlightCount, 0);
  } finally {
    await client.close();
  }
});

test('the same requests over three connections at once, and without streaming', { skip: skipServer }, async () => {
  const clients = await Promise.all([0, 1, 2].map(() => connect({ host, port })));
  try {
    await Promise.all(expected.cases.map((c, i) => {
      const [source, options] = request(c);
      return assertMatches(clients[i % 3].translate(source, options), c, `case ${i} on connection ${i % 3}`);
    }));
    const c = expected.cases.find((k) => k.expected.tokens.length > 0);
    const [source, options] = request(c);
    const quiet = clients[0].translate(source, { ...options, stream: false });
    const events = [];
    for await (const e of quiet) {
      events.push(e);
    }
    assert.deepEqual(events, [], 'stream: false sends no Token frames');
    const done = await quiet.result;
    assert.deepEqual(done.tokens, c.expected.tokens);
    assert.equal(done.textTail, done.text, 'without Token frames the whole text is the tail');
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});

test('invalid requests end with an Error carrying the right code, and the connection stays usable', { skip: skipServer }, async () => {
  const client = await connect({ host, port });
  try {
    const { vocabSize, maxPositions } = expected.model;
    const outOfVocab = client.translate([5, vocabSize], { id: 1 });
    const alpha = client.translate([5, 6], { id: 2, alphaQ8: 513 });
    const beam = client.translate([5, 6], { id: 3, beamWidth: client.welcome.maxBeamWidth + 1 });
    const tooLong = client.translate([5, 6], { id: 4, maxNewTokens: maxPositions });
    const longSource = client.translate(new Array(maxPositions).fill(5), { id: 5 });
    await assert.rejects(outOfVocab.result, isCode('INVALID_ARGUMENT'));
    await assert.rejects(alpha.result, isCode('INVALID_ARGUMENT', /alpha_q8 513/));
    await assert.rejects(beam.result, isCode('INVALID_ARGUMENT', /beam_width/));
    await assert.rejects(tooLong.result, isCode('MODEL_LIMIT_EXCEEDED', /max_new_tokens/));
    await assert.rejects(longSource.result, isCode('MODEL_LIMIT_EXCEEDED'));
    const error = await alpha.result.catch((e) => e);
    assert.equal(error.requestId, 2n);
    await assert.rejects(async () => {
      for await (const e of beam) {
        assert.fail(`no tokens for a rejected request, got ${e.token}`);
      }
    }, isCode('INVALID_ARGUMENT'), 'the iterator throws the request\'s error');
    assert.deepEqual((await tooLong.outcome).kind, 'error');
    // The connection is still open: an error of one request is not a connection error.
    const c = expected.cases[1];
    const [source, options] = request(c);
    await assertMatches(client.translate(source, { ...options, id: 1 }), c, 'after the errors, reusing id 1');
  } finally {
    await client.close();
  }
});

test('ping is answered with its nonce, also while requests stream', { skip: skipServer }, async () => {
  const client = await connect({ host, port });
  try {
    const c = expected.cases[0];
    const [source, options] = request(c);
    const t = client.translate(source, options);
    const pongs = await Promise.all([client.ping(), client.ping(), client.ping()]);
    assert.deepEqual(pongs.map((p) => p.nonce), [1n, 2n, 3n]);
    for (const p of pongs) {
      assert.equal(typeof p.roundTripNs, 'bigint');
      assert.ok(p.roundTripNs > 0n);
    }
    await assertMatches(t, c, 'streaming beside pings');
  } finally {
    await client.close();
  }
});

test('cancel mid-stream gives a cancelled outcome with the tokens that came', { skip: skipSlow || skipServer }, async () => {
  const client = await connect({ host, port: slowPort });
  try {
    const t = client.translate([10, 20, 30], { id: 7 }); // never ends by itself before hundreds of slow steps
    const other = client.translate([10, 20, 30], { id: 8, maxNewTokens: 3 });
    const events = [];
    for await (const e of t) {
      events.push(e);
      if (events.length === 2) {
        const outcome = await t.cancel();
        assert.equal(outcome.kind, 'cancelled');
      }
    }
    const outcome = await t.outcome;
    assert.equal(outcome.kind, 'cancelled');
    assert.ok(outcome.tokenCount >= 2 && outcome.tokenCount === events.length,
      `Cancelled.token_count ${outcome.tokenCount} equals the ${events.length} tokens received`);
    await assert.rejects(t.result, (e) => e instanceof CancelledError && e.code === 'CANCELLED' && e.byClient);
    assert.equal((await other.result).tokenCount, 3, 'the other request on the connection is unaffected');
    await client.cancel(7); // no longer in flight: nothing is sent
    assert.equal(client.inFlightCount, 0);
    assert.deepEqual((await client.ping()).nonce, 1n);
  } finally {
    await client.close();
  }
});

test('leaving the loop early, or aborting its signal, cancels the request', { skip: skipSlow || skipServer }, async () => {
  const client = await connect({ host, port: slowPort });
  try {
    const t = client.translate('abc');
    for await (const e of t) {
      assert.equal(e.index, 0);
      break;
    }
    assert.equal((await t.outcome).kind, 'cancelled');
    const controller = new AbortController();
    const u = client.translate('abc', { signal: controller.signal });
    await u.next();
    controller.abort();
    assert.equal((await u.outcome).kind, 'cancelled');
  } finally {
    await client.close();
  }
});

test('a deadline that passes ends the request with DEADLINE_EXCEEDED', { skip: skipSlow || skipServer }, async () => {
  const client = await connect({ host, port: slowPort });
  try {
    // Hundreds of slow steps cannot fit into 300 ms.
    const t = client.translate([1, 2, 3], { deadlineMs: 300 });
    await assert.rejects(t.result, isCode('DEADLINE_EXCEEDED'));
  } finally {
    await client.close();
  }
});

test('closing the connection fails what is still in flight once', { skip: skipSlow || skipServer }, async () => {
  const client = await connect({ host, port: slowPort });
  const t = client.translate([4, 5, 6]);
  await t.next();
  const reason = await client.close();
  assert.equal(reason.code, 'IO_ERROR');
  await assert.rejects(t.result, isCode('IO_ERROR', /closed by the client/));
  assert.throws(() => client.translate([1]), isCode('IO_ERROR'));
});

// ---- TLS and tokens (the third server, and certificates made for the run) ----------------------------

test('over mutual TLS with the token, translations equal local decoding', { skip: skipTls }, async () => {
  const mutual = { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey };
  const clients = await Promise.all([
    connect({ host: '127.0.0.1', port: tlsPort, tls: mutual, token, clientName: 'js tls test' }), // the certificate's IP SAN
    connect({ host: 'localhost', port: tlsPort, tls: mutual, token }), // its DNS SAN, also sent as SNI
  ]);
  try {
    for (const client of clients) {
      assert.equal(client.welcome.version, 1);
      assert.equal(client.model.sha256, expected.model.sha256);
    }
    await Promise.all(expected.cases.map((c, i) => {
      const [source, options] = request(c);
      return assertMatches(clients[i % 2].translate(source, options), c, `case ${i} over TLS on connection ${i % 2}`);
    }));
    assert.deepEqual((await clients[0].ping()).nonce, 1n);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});

test('a wrong or missing token is refused with UNAUTHENTICATED; a server without tokens ignores one', { skip: skipTls }, async () => {
  const mutual = { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey };
  await assert.rejects(connect({ host: '127.0.0.1', port: tlsPort, tls: mutual, token: 'wrong-token-4711' }), (e) => {
    isCode('UNAUTHENTICATED', /not one this server accepts/)(e);
    assert.ok(!e.message.includes('wrong-token-4711'), e.message);
    assert.equal(e.requestId, undefined);
    return true;
  });
  await assert.rejects(connect({ host: '127.0.0.1', port: tlsPort, tls: mutual }), isCode('UNAUTHENTICATED', /none was sent/));
  const plain = await connect({ host, port, token });
  assert.equal(plain.model.sha256, expected.model.sha256);
  await plain.close();
});

test('an untrusted server certificate, or a missing or foreign client certificate, fails with IO_ERROR', { skip: skipTls }, async () => {
  const withToken = (tls) => connect({ host: '127.0.0.1', port: tlsPort, tls, token });
  await assert.rejects(withToken({ ca: pki.rogueCa, cert: pki.clientCert, key: pki.clientKey }),
    tlsHandshakeFailed(tlsPort, /certificate/));
  await assert.rejects(withToken(true), tlsHandshakeFailed(tlsPort), 'Node\'s default CA store does not hold the test CA');
  await assert.rejects(withToken({ ca: pki.ca }), tlsHandshakeFailed(tlsPort), 'no client certificate');
  await assert.rejects(withToken({ ca: pki.ca, cert: pki.rogueCert, key: pki.rogueKey }), tlsHandshakeFailed(tlsPort),
    'a client certificate of another CA');
});

test('the server certificate must name the host: an IP address without SNI, a name with SNI, or servername', { skip: skipPki }, async () => {
  const sni = [];
  const server = await scriptedServer(async (peer) => {
    assert.equal(peer.socket.servername, 'elsewhere.example');
    assert.equal((await peer.next()).token, 'scripted-token');
    peer.socket.write(frames.welcome());
  }, {
    tls: {
      cert: pki.wrongNameCert, // issued by the CA for elsewhere.example only
      key: pki.wrongNameKey,
      SNICallback: (name, callback) => {
        sni.push(name);
        callback(null, undefined); // the default context
      },
    },
  });
  try {
    const ca = { ca: pki.ca };
    await assert.rejects(connect({ host: '127.0.0.1', port: server.port, tls: ca }),
      tlsHandshakeFailed(server.port, /IP: 127\.0\.0\.1 is not in the cert's list/));
    assert.deepEqual(sni, [], 'no SNI for an IP address');
    await assert.rejects(connect({ host: 'localhost', port: server.port, tls: ca }),
      (e) => isCode('IO_ERROR', /^\[IO_ERROR\] TLS handshake with localhost:\d+ failed: .*localhost\. is not in the cert's altnames: DNS:elsewhere\.example/)(e));
    assert.deepEqual(sni, ['localhost']);
    const client = await connect({ host: '127.0.0.1', port: server.port, tls: { ...ca, servername: 'elsewhere.example' },
      token: 'scripted-token' });
    assert.equal(client.welcome.serverName, 'scripted');
    assert.deepEqual(sni, ['localhost', 'elsewhere.example']);
    await server.done;
    await client.close();
  } finally {
    server.close();
  }
});
