// A scripted peer on a real loopback socket: the test plays the server's side frame by frame, for
// behaviour a real server cannot be made to show on demand (a dropped connection, a malformed frame).
import net from 'node:net';
import tls from 'node:tls';
import { FrameReader, decodeFrame } from '../../src/codec.js';

/**
 * Starts a server on 127.0.0.1 (a free port) that runs `script(peer)` for its first connection, where
 * `peer.next()` resolves with the next frame the client sent (decoded) and `peer.socket` is the socket.
 * Resolves with `{ port, done, close }`; `done` settles with the script's outcome.
 *
 * With `tls` (options of `tls.createServer`) it speaks TLS, and its first connection is the first whose
 * handshake succeeds; until then it keeps listening, so a test whose handshakes all fail calls `close`.
 */
export async function scriptedServer(script, { tls: tlsOptions } = {}) {
  const server = tlsOptions ? tls.createServer(tlsOptions) : net.createServer();
  server.on('tlsClientError', () => {}); // a handshake the client refused: the test looks at the client's side
  let settle;
  const done = new Promise((resolve, reject) => {
    settle = { resolve, reject };
  });
  server.once(tlsOptions ? 'secureConnection' : 'connection', (socket) => {
    server.close();
    const reader = new FrameReader(1 << 20);
    const queue = [];
    const waiters = [];
    socket.on('data', (chunk) => {
      for (const f of reader.push(chunk)) {
        const m = decodeFrame(f);
        const w = waiters.shift();
        w ? w(m) : queue.push(m);
      }
    });
    socket.on('error', () => {});
    const peer = {
      socket,
      next: () => (queue.length > 0 ? Promise.resolve(queue.shift()) : new Promise((r) => waiters.push(r))),
      /** Writes `bytes` in pieces of `size` bytes, one socket write each. */
      writeInPieces(bytes, size) {
        for (let i = 0; i < bytes.length; i += size) {
          socket.write(bytes.subarray(i, Math.min(i + size, bytes.length)));
        }
      },
    };
    Promise.resolve().then(() => script(peer)).then(settle.resolve, settle.reject);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: server.address().port, done, close: () => server.close() };
}
