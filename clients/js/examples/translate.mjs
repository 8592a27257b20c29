#!/usr/bin/env node
// Translate with a running shiftformer server, printing the text as it streams, then the Done's stats.
//
//   node examples/translate.mjs [--host 127.0.0.1] [--port 7433] [--beam 4] [--alpha 0.6]
//                               [--max-new-tokens N] [--deadline-ms N] [--ids]
//                               [--tls] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE] TEXT...
//
// Several TEXT arguments are sent at once as concurrent requests on one connection, and printed in
// order. --ids reads each TEXT as comma-separated source token ids instead (e.g. 10,20,30).
// --tls speaks TLS trusting Node's default CA store, --tls-ca (implies --tls) trusts that PEM file
// instead; --tls-cert/--tls-key present a client certificate. The bearer token, for a server with a
// tokens file, comes from the environment variable SHIFTFORMER_TOKEN (never from the command line,
// where other users of the machine could read it).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { connect, ErrorCode, ShiftformerError } from '../src/index.js';

const { values: o, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '7433' },
    beam: { type: 'string', default: '1' },
    alpha: { type: 'string' },
    'max-new-tokens': { type: 'string', default: '0' },
    'deadline-ms': { type: 'string', default: '0' },
    ids: { type: 'boolean', default: false },
    tls: { type: 'boolean', default: false },
    'tls-ca': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

function integer(name, text) {
  const n = Number(text);
  if (!Number.isInteger(n)) {
    throw new ShiftformerError(ErrorCode.INVALID_ARGUMENT, `--${name} must be an integer, got '${text}'`);
  }
  return n;
}

if (o.help || positionals.length === 0) {
  console.error('usage: translate.mjs [--host H] [--port P] [--beam N] [--alpha A] [--max-new-tokens N] '
    + '[--deadline-ms N] [--ids] [--tls] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE] TEXT...  '
    + '(token: $SHIFTFORMER_TOKEN)');
  process.exit(o.help ? 0 : 2);
}

try {
  const options = {
    beamWidth: integer('beam', o.beam),
    maxNewTokens: integer('max-new-tokens', o['max-new-tokens']),
    deadlineMs: integer('deadline-ms', o['deadline-ms']),
    ...(o.alpha === undefined ? {} : { alpha: Number(o.alpha) }),
  };
  const sources = positionals.map((p) => (o.ids ? p.split(',').map((t) => integer('ids', t.trim())) : p));
  const pem = (name) => (o[name] === undefined ? undefined : readFileSync(o[name]));
  const tlsFiles = { ca: pem('tls-ca'), cert: pem('tls-cert'), key: pem('tls-key') };
  const tls = Object.values(tlsFiles).some((f) => f !== undefined)
    ? Object.fromEntries(Object.entries(tlsFiles).filter(([, f]) => f !== undefined)) : o.tls;
  const client = await connect({ host: o.host, port: integer('port', o.port), clientName: 'translate.mjs', tls,
    token: process.env.SHIFTFORMER_TOKEN || undefined });
  const m = client.model;
  console.error(`connected to ${client.welcome.serverName} ${client.welcome.serverVersion} (protocol `
    + `${client.welcome.version}), model ${m.sha256.slice(0, 12)} on ${m.backend.name}/${m.backend.device}`);
  process.on('SIGINT', () => client.close()); // the server cancels what is in flight
  const translations = sources.map((s) => client.translate(s, options)); // all in flight at once
  let failed = false;
  for (const t of translations) {
    try {
      for await (const token of t) {
        process.stdout.write(token.text);
      }
      const done = await t.result;
      process.stdout.write(`${done.textTail}\n`);
      const ms = (ns) => (Number(ns) / 1e6).toFixed(1);
      console.error(`  request ${t.id}: ${done.tokenCount} tokens, ${done.finishedByEos ? 'EOS' : 'length limit'}, `
        + `queue ${ms(done.queueNs)} ms, first token ${ms(done.firstTokenNs)} ms, total ${ms(done.totalNs)} ms, `
        + `beam ${done.params.beamWidth}, score ${done.score}`);
    } catch (e) {
      failed = true;
      process.stdout.write('\n');
      console.error(`  request ${t.id} failed: ${e.message}`);
    }
  }
  await client.close();
  process.exit(failed ? 1 : 0);
} catch (e) {
  console.error(`translate.mjs: ${e.message}`);
  process.exit(e instanceof ShiftformerError && e.code === 'INVALID_ARGUMENT' ? 2 : 1);
}
