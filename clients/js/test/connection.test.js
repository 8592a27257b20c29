// The client against a scripted peer on a real loopback socket: handshake outcomes, frames split across
// TCP writes, a lost connection, and a peer that breaks the protocol.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { connect } from '../src/index.js';
import { ErrorCode, ShiftformerError } from '../src/errors.js';
import * as frames from './support/server-frames.js';
import { scriptedServer } from './support/scripted-server.js';

async function handshake(peer) {
  const hello = await peer.next();
  assert.equal(hello.type, 'Hello');
  assert.equal(hello.requestId, 0n);
  assert.equal(hello.minVersion, 1);
  assert.equal(hello.maxVersion, 1);
  peer.socket.write(frames.welcome());
}

function isCode(name) {
  return (e) => {
    assert.ok(e instanceof ShiftformerError, `a ShiftformerError, got ${e}`);
    assert.equal(e.code, name, e.message);
    assert.equal(e.codeNumber, ErrorCode[name]);
    return true;
  };
}

test('frames split across TCP writes and several frames per write are reassembled', async () => {
  const server = await scriptedServer(async (peer) => {
    const hello = await peer.next();
    assert.equal(hello.clientName, 'split test');
    peer.writeInPieces(frames.welcome(), 3);
    const a = await peer.next();
    const b = await peer.next();
    assert.deepEqual([a.type, a.requestId, a.text], ['TranslateRequest', 11n, 'eins']);
    assert.deepEqual([b.type, b.requestId, b.tokens], ['TranslateRequest', 12n, [7, 8]]);
    const ping = await peer.next();
    // Two requests interleaved, a Pong among them, cut into 7-byte writes.
    peer.writeInPieces(frames.concat(
      frames.token(12n, 0, 65, 'A'),
      frames.token(11n, 0, 111, 'o'),
      frames.pong(0n, ping.nonce),
      frames.token(11n, 1, 110, 'né'),
      frames.done(12n, [65], 'A'),
      frames.done(11n, [111, 110], 'oné'),
    ), 7);
  });
  const client = await connect({ port: server.port, clientName: 'split test' });
  assert.equal(client.welcome.serverName, 'scripted');
  assert.equal(client.model.vocabSize, 300);
  const one = client.translate('eins', { id: 11 });
  const two = client.translate([7, 8], { id: 12n });
  const pong = await client.ping();
  assert.equal(pong.nonce, 1n);
  const texts = [];
  for await (const t of one) {
    texts.push(t.text);
  }
  assert.deepEqual(texts, ['o', 'né']);
  assert.deepEqual((await one.result).tokens, [111, 110]);
  assert.equal((await one.result).text, 'oné');
  assert.deepEqual((await two.result).tokens, [65]);
  assert.equal(client.inFlightCount, 0);
  await server.done;
  await client.close();
});

test('a lost connection fails every pending request, ping and iterator exactly once', async () => {
  let dropped;
  const server = await scriptedServer(async (peer) => {
    await handshake(peer);
    await peer.next();
    await peer.next();
    await peer.next(); // the ping, left unanswered
    peer.socket.write(frames.token(1n, 0, 104, 'h'));
    dropped = () => peer.socket.destroy();
  });
  const client = await connect({ port: server.port });
  const one = client.translate('a', { id: 1 });
  const two = client.translate('b', { id: 2 });
  const ping = client.ping();
  const firstToken = await one.next();
  assert.equal(firstToken.value.text, 'h');
  await server.done;
  const settled = [];
  for (const [name, p] of [['one', one.result], ['two', two.result], ['ping', ping]]) {
    p.then(() => settled.push(`${name} resolved`), (e) => settled.push(`${name} ${e.code}`));
  }
  dropped();
  await assert.rejects(one.result, isCode('IO_ERROR'));
  await assert.rejects(two.result, isCode('IO_ERROR'));
  await assert.rejects(ping, isCode('IO_ERROR'));
  await assert.rejects(one.next(), isCode('IO_ERROR'), 'the iterator throws after the tokens that arrived');
  assert.deepEqual((await two.outcome).kind, 'error');
  assert.equal((await one.result.catch((e) => e)).requestId, 1n);
  const reason = await client.closed;
  assert.equal(reason.code, 'IO_ERROR');
  assert.deepEqual(settled.sort(), ['one IO_ERROR', 'ping IO_ERROR', 'two IO_ERROR']);
  assert.equal(client.inFlightCount, 0);
  assert.throws(() => client.translate('c'), isCode('IO_ERROR'), 'a closed connection refuses new requests');
  await assert.rejects(async () => client.ping(), isCode('IO_ERROR'));
});

test('no common version: connect rejects with UNSUPPORTED_VERSION and the server\'s message', async () => {
  const server = await scriptedServer(async (peer) => {
    await peer.next();
    peer.socket.end(frames.error(0n, ErrorCode.UNSUPPORTED_VERSION, 'client speaks 1..1, server 2..3'));
  });
  await assert.rejects(connect({ port: server.port }), (e) => {
    isCode('UNSUPPORTED_VERSION')(e);
    assert.match(e.message, /client speaks 1\.\.1, server 2\.\.3/);
    return true;
  });
  await server.done;
});

test('the token travels in Hello.token, and no token field is sent without one', async () => {
  const server = await scriptedServer(async (peer) => {
    const hello = await peer.next();
    assert.equal(hello.type, 'Hello');
    assert.equal(hello.clientName, 'token test');
    assert.equal(hello.token, 'tok-0123456789');
    peer.socket.write(frames.welcome());
  });
  const client = await connect({ port: server.port, clientName: 'token test', token: 'tok-0123456789' });
  assert.equal(client.welcome.serverName, 'scripted');
  assert.ok(!Object.values(client).includes('tok-0123456789'), 'the client keeps no copy of the token');
  await server.done;
  await client.close();

  const plain = await scriptedServer(async (peer) => {
    assert.equal((await peer.next()).token, null);
    peer.socket.write(frames.welcome());
  });
  await (await connect({ port: plain.port })).close();
  await plain.done;
});

test('Error 14 answering the Hello rejects connect with UNAUTHENTICATED and the server\'s message', async () => {
  assert.equal(ErrorCode.UNAUTHENTICATED, 14);
  const server = await scriptedServer(async (peer) => {
    assert.equal((await peer.next()).token, 'not-known');
    peer.socket.end(frames.error(0n, 14, 'the token in Hello.token is not one this server accepts'));
  });
  await assert.rejects(connect({ port: server.port, token: 'not-known' }), (e) => {
    isCode('UNAUTHENTICATED')(e);
    assert.equal(e.message, '[UNAUTHENTICATED] the token in Hello.token is not one this server accepts');
    assert.equal(e.requestId, undefined);
    return true;
  });
  await server.done;
});

test('bad tls and token options are refused before connecting, never naming the token', async () => {
  const refused = (pattern) => (e) => isCode('INVALID_ARGUMENT')(e) && pattern.test(e.message);
  await assert.rejects(connect({ port: 1, tls: { rejectUnauthorized: false } }),
    refused(/tls takes ca, cert, key, servername only .*got rejectUnauthorized/));
  await assert.rejects(connect({ port: 1, tls: 'yes' }), refused(/tls must be true or an object/));
  await assert.rejects(connect({ port: 1, tls: { cert: 'x' } }), refused(/a client certificate needs its key .*a certificate alone/));
  await assert.rejects(connect({ port: 1, tls: { cert: 'not pem', key: 'not pem' } }), refused(/tls: cannot use cert and key, PEM data: /));
  await assert.rejects(connect({ port: 1, tls: { servername: '' } }), refused(/tls.servername must be a non-empty string/));
  await assert.rejects(connect({ port: 1, token: '' }), refused(/token must be a string of 1 to 1024 UTF-8 bytes, got 0 bytes/));
  await assert.rejects(connect({ port: 1, token: `secret${'x'.repeat(1020)}` }), (e) => refused(/got 1026 bytes/)(e)
    && !e.message.includes('secret'));
});

test('TLS to a peer that does not speak it fails with IO_ERROR "TLS handshake with HOST:PORT failed"', async () => {
  let first = null;
  const server = net.createServer((socket) => {
    socket.once('data', (chunk) => {
      first = chunk;
      socket.end(frames.welcome()); // a plaintext frame where a TLS record belongs
    });
    socket.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  try {
    await assert.rejects(connect({ port, tls: true, token: 'never-sent' }), (e) => {
      isCode('IO_ERROR')(e);
      assert.ok(e.detail.startsWith(`TLS handshake with 127.0.0.1:${port} failed: `), e.message);
      assert.ok(!e.message.includes('never-sent'));
      return true;
    });
    assert.equal(first[0], 0x16, 'the first bytes are a TLS handshake record, not a Hello frame');
    assert.ok(!first.includes(Buffer.from('never-sent')), 'the token is not sent before the handshake');
  } finally {
    server.close();
  }
});

test('a connection-level Error fails what is pending with its code', async () => {
  const server = await scriptedServer(async (peer) => {
    await handshake(peer);
    await peer.next();
    peer.socket.end(frames.error(0n, ErrorCode.INTERNAL, 'server bug'));
  });
  const client = await connect({ port: server.port });
  const t = client.translate('x');
  await assert.rejects(t.result, (e) => isCode('INTERNAL')(e) && /server bug/.test(e.message));
  await server.done;
});

test('a malformed frame from the server fails the connection with PROTOCOL_ERROR', async () => {
  const server = await scriptedServer(async (peer) => {
    await handshake(peer);
    await peer.next();
    const bad = frames.token(1n, 0, 1, 'x').slice();
    bad.set([0x41, 0x42, 0x43, 0x44], 8);
    peer.socket.write(bad);
  });
  const client = await connect({ port: server.port });
  const t = client.translate('x', { id: 1 });
  await assert.rejects(t.result, (e) => isCode('PROTOCOL_ERROR')(e) && /identifier is 41 42 43 44/.test(e.message));
  assert.equal((await client.closed).code, 'PROTOCOL_ERROR');
  await server.done;
});

test('a Token for a request not in flight, or an unknown code, is handled as the protocol says', async () => {
  const server = await scriptedServer(async (peer) => {
    await handshake(peer);
    await peer.next();
    peer.socket.write(frames.error(1n, 99, 'from a newer server'));
    await peer.next();
    peer.socket.write(frames.token(42n, 0, 1, 'x'));
  });
  const client = await connect({ port: server.port });
  const first = client.translate('x', { id: 1 });
  await assert.rejects(first.result, (e) => {
    assert.equal(e.code, 'INTERNAL', 'an unknown code is treated as INTERNAL');
    assert.equal(e.codeNumber, 99);
    assert.match(e.message, /unknown code 99.*from a newer server/);
    return true;
  });
  const second = client.translate('y', { id: 2 });
  await assert.rejects(second.result, (e) => isCode('PROTOCOL_ERROR')(e) && /Token for request 42, which is not in flight/.test(e.message));
  await server.done;
});

test('client-side argument checks: id 0, an id in flight, a bad port', async () => {
  const server = await scriptedServer(async (peer) => {
    await handshake(peer);
    const r = await peer.next();
    peer.socket.write(frames.cancelled(r.requestId, 0));
  });
  const client = await connect({ port: server.port });
  assert.throws(() => client.translate('x', { id: 0 }), (e) => isCode('INVALID_ARGUMENT')(e) && /request id 0 is reserved/.test(e.message));
  const t = client.translate('x', { id: 5 });
  assert.throws(() => client.translate('y', { id: 5 }), (e) => isCode('INVALID_ARGUMENT')(e) && /request id 5 is still in flight/.test(e.message));
  assert.throws(() => client.translate('y', { id: -1 }), /request id -1 is outside 0..2\^64-1/);
  assert.deepEqual(await t.outcome, { kind: 'cancelled', tokenCount: 0 });
  const again = client.translate('y', { id: 5 }); // reusable once its terminal frame has arrived
  assert.equal(again.id, 5n);
  await client.close();
  await assert.rejects(again.result, isCode('IO_ERROR'));
  await server.done;
  await assert.rejects(connect({ port: 0 }), (e) => isCode('INVALID_ARGUMENT')(e) && /port must be an integer in 1..65535, got 0/.test(e.message));
});

test('an idle connection sends keep-alive Pings every keepAliveMs, and none with 0', { timeout: 20_000 }, async () => {
  const server = await scriptedServer(async (peer) => {
    await handshake(peer);
    for (let i = 0; i < 2; i++) {
      const ping = await peer.next();
      assert.equal(ping.type, 'Ping');
      peer.socket.write(frames.pong(0n, ping.nonce));
    }
  });
  const client = await connect({ port: server.port, keepAliveMs: 100 });
  await server.done;
  assert.ok(client.keepAlivePings >= 2, `keep-alive pings: ${client.keepAlivePings}`);
  await client.close();

  let frame = null;
  const quiet = await scriptedServer(async (peer) => {
    await handshake(peer);
    frame = await Promise.race([peer.next(), new Promise((r) => setTimeout(() => r(null), 400))]);
  });
  const silent = await connect({ port: quiet.port, keepAliveMs: 0 });
  await quiet.done;
  assert.equal(frame, null, 'no frame from a client without keep-alive');
  assert.equal(silent.keepAlivePings, 0);
  await silent.close();
  await assert.rejects(connect({ port: quiet.port, keepAliveMs: -1 }), isCode('INVALID_ARGUMENT'));
});
