/**
 * shiftformer-client: a Node.js client for the shiftformer streaming protocol (PROTOCOL.md).
 *
 *   import { connect } from 'shiftformer-client';
 *   const client = await connect({ host: '127.0.0.1', port: 7433 });
 *   const t = client.translate('zweihundertdreiundvierzig', { beamWidth: 4, alpha: 0.6 });
 *   for await (const token of t) process.stdout.write(token.text);
 *   const done = await t.result;
 *   await client.close();
 */
export { connect, Client, Translation } from './client.js';
export { ErrorCode, ShiftformerError, CancelledError, codeName } from './errors.js';
export {
  FrameReader,
  decodeFrame,
  encodeHello,
  encodeTranslateRequest,
  encodeCancel,
  encodePing,
  encodeModelInfoRequest,
  BodyType,
  PROTOCOL_VERSION,
  FILE_IDENTIFIER,
} from './codec.js';
