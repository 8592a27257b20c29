// The web console (README "Console"): the model card and the playground talk the streaming protocol over
// this admin port's WebSocket (GET /ws, PROTOCOL.md section 12) with the JS client's codec; the gauges read
// /metrics once a second. Nothing is fetched from anywhere else; a token lives in this page's memory only.
import {
  decodeFrame, encodeCancel, encodeHello, encodeModelInfoRequest, encodeTranslateRequest,
} from '/console/lib/src/codec.js';
import { ErrorCode, codeName } from '/console/lib/src/errors.js';

const $ = (id) => document.getElementById(id);
const RECONNECT_MS = 2000;
const BEAM_WIDTH = 4;

let ws = null;
let token = null;          // only when the server asked for one
let needsToken = false;
let welcome = null;
let nextRequestId = 1n;
let current = null;        // { id, text } of the playground's request in flight

function setConnection(state, text) {
  $('connection').dataset.state = state;
  $('connection').textContent = text;
}

function connect() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const socket = new WebSocket(`${scheme}://${location.host}/ws`);
  socket.binaryType = 'arraybuffer';
  ws = socket;
  socket.onopen = () => socket.send(encodeHello('shiftformer-console', { token }));
  socket.onmessage = (ev) => {
    if (typeof ev.data === 'string') {
      return; // the server never sends text
    }
    received(decodeFrame(new Uint8Array(ev.data)));
  };
  socket.onclose = () => {
    if (ws !== socket) {
      return;
    }
    ws = null;
    welcome = null;
    $('translate').disabled = true;
    if (current !== null) {
      finish('error', 'the connection closed');
    }
    if (needsToken) {
      setConnection('closed', 'token required');
      return;
    }
    setConnection('closed', 'disconnected; reconnecting…');
    setTimeout(connect, RECONNECT_MS);
  };
}

function received(f) {
  switch (f.type) {
    case 'Welcome':
      welcome = f;
      needsToken = false;
      $('auth').hidden = true;
      setConnection('open', `connected to ${f.serverName} ${f.serverVersion}`);
      $('m-server').textContent = `${f.serverName} ${f.serverVersion}, protocol ${f.version}, up to ${f.maxInFlight} requests in flight`;
      $('translate').disabled = false;
      ws.send(encodeModelInfoRequest());
      break;
    case 'ModelInfo':
      showModel(f);
      break;
    case 'Token':
      if (current !== null && f.requestId === current.id) {
        addToken(f);
      }
      break;
    case 'Done':
      if (current !== null && f.requestId === current.id) {
        append(f.textTail);
        finish('done', `${f.tokenCount} tokens, ${f.finishedByEos ? 'EOS' : 'length limit'}, `
          + `${(Number(f.totalNs) / 1e6).toFixed(1)} ms, ${f.deviceCycles} device cycles on ${f.backend?.name ?? '?'}`);
      }
      break;
    case 'Cancelled':
      if (current !== null && f.requestId === current.id) {
        finish('cancelled', `cancelled after ${f.tokenCount} tokens`);
      }
      break;
    case 'Error':
      if (f.requestId === 0n) {
        handshakeError(f);
      } else if (current !== null && f.requestId === current.id) {
        finish('error', `${codeName(f.code)}: ${f.message}`);
      }
      break;
    default:
      break; // Pong and others: nothing to show
  }
}

function handshakeError(f) {
  if (f.code === ErrorCode.UNAUTHENTICATED && welcome === null) {
    needsToken = true;
    $('auth').hidden = false;
    $('auth-error').textContent = token === null ? '' : `refused: ${f.message}`;
    $('token').focus();
  } else {
    setConnection('closed', `${codeName(f.code)}: ${f.message}`);
  }
}

function showModel(m) {
  $('m-sha256').textContent = m.sha256;
  const b = m.backend;
  $('m-backend').textContent = b === null ? '–' : `${b.name} (${b.device}, ${b.version})`;
  const c = m.config;
  if (c !== null) {
    $('m-shape').textContent = `d_model ${c.dModel}, ${c.heads} heads, d_ff ${c.dFf}, `
      + `${c.encoderLayers}+${c.decoderLayers} layers, ${c.maxPositions} positions`;
    $('m-vocab').textContent = `${c.vocabSize} (pad ${c.padId}, bos ${c.bosId}, eos ${c.eosId})`;
  }
  $('m-tokenizer').textContent = m.tokenizerKind || '–';
  $('m-trainer').textContent = m.trainer || '–';
}

// ---- the playground -----------------------------------------------------------------------------

function translate() {
  if (ws === null || welcome === null || current !== null) {
    return;
  }
  const beam = $('mode').value === 'beam' ? Math.max(2, Math.min(BEAM_WIDTH, welcome.maxBeamWidth)) : 1;
  current = { id: nextRequestId++ };
  $('output').textContent = '';
  $('tokens').replaceChildren();
  drawCycles();
  $('result').dataset.state = 'streaming';
  $('result').textContent = beam > 1 ? `beam search, width ${beam}…` : 'greedy…';
  $('translate').disabled = true;
  $('cancel').disabled = false;
  ws.send(encodeTranslateRequest(current.id, $('source').value, { beamWidth: beam, stream: true }));
}

function addToken(t) {
  append(t.text);
  const li = document.createElement('li');
  li.dataset.token = String(t.token);
  li.dataset.cycles = String(t.deviceCycles);
  const piece = document.createElement('span');
  piece.className = 'piece';
  piece.textContent = t.text;
  const info = document.createElement('small');
  info.textContent = `#${t.token} · ${t.deviceCycles} cyc`;
  li.append(piece, info);
  $('tokens').append(li);
  drawCycles();
}

/** One bar per token, its height its modelled device cycles (the first one includes the encoder's share). */
function drawCycles() {
  const cycles = [...$('tokens').children].map((li) => Number(li.dataset.cycles));
  drawBars($('cycles-chart'), cycles, (c, i) => `token ${i}: ${c} cycles`);
}

/** Bars of {@code values} in {@code svg}, scaled to the largest; each bar's title from {@code title(value, i)}. */
function drawBars(svg, values, title) {
  const max = Math.max(1, ...values);
  svg.setAttribute('viewBox', `0 0 ${Math.max(1, values.length)} 100`);
  svg.replaceChildren(...values.map((v, i) => {
    const bar = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
    bar.setAttribute('x', String(i + 0.1));
    bar.setAttribute('width', '0.8');
    bar.setAttribute('y', String(100 - (100 * v) / max));
    bar.setAttribute('height', String((100 * v) / max));
    const t = document.createElementNS('http://www.w3.org/2000/svg', 'title');
    t.textContent = title(v, i);
    bar.append(t);
    return bar;
  }));
}

function append(text) {
  $('output').append(document.createTextNode(text));
}

function finish(state, text) {
  current = null;
  $('result').dataset.state = state;
  $('result').textContent = text;
  $('cancel').disabled = true;
  $('translate').disabled = ws === null || welcome === null;
}

function cancel() {
  if (ws !== null && current !== null) {
    ws.send(encodeCancel(current.id));
    $('cancel').disabled = true;
  }
}

// ---- the gauges -----------------------------------------------------------------------------------

/**
 * Sums of every sample per metric name in Prometheus text, the labels of shiftformer_model_info, the
 * served model's recorded scores (shiftformer_model_score: name and value as written), and the histograms'
 * cumulative bucket counts per name and upper bound (le), summed over their other labels.
 */
function parseMetrics(text) {
  const sums = new Map();
  const buckets = new Map();
  const scores = [];
  let modelInfo = null;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) {
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (m === null) {
      continue;
    }
    sums.set(m[1], (sums.get(m[1]) ?? 0) + Number(m[3]));
    if (m[1] === 'shiftformer_model_info' && m[2]) {
      modelInfo = labels(m[2]);
    }
    if (m[1] === 'shiftformer_model_score' && m[2]) {
      scores.push({ name: labels(m[2]).score, value: m[3] });
    }
    const le = m[1].endsWith('_bucket') && m[2] ? /[{,]le="([^"]+)"/.exec(m[2]) : null;
    if (le !== null) {
      const byLe = buckets.get(m[1]) ?? new Map();
      byLe.set(le[1], (byLe.get(le[1]) ?? 0) + Number(m[3]));
      buckets.set(m[1], byLe);
    }
  }
  return { sums, buckets, scores, modelInfo, at: performance.now() };
}

/** The labels of a sample, {name: value}, with Prometheus' escapes (\\ \" \n) undone. */
function labels(text) {
  const unescape = (v) => v.replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
  return Object.fromEntries([...text.matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], unescape(l[2])]));
}

/** The model card's scores: each name and its value (4 significant digits; the exact one in data-value). */
function showScores(scores) {
  const sorted = [...scores].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  $('m-scores').replaceChildren(...(sorted.length === 0 ? [document.createTextNode('none recorded')]
    : sorted.map((s) => {
      const item = document.createElement('span');
      item.className = 'score';
      item.dataset.score = s.name;
      item.dataset.value = s.value;
      const value = document.createElement('b');
      value.textContent = String(Number(Number(s.value).toPrecision(4)));
      item.append(`${s.name} `, value);
      return item;
    })));
}

/**
 * A latency histogram from a timer's cumulative buckets (upper bounds in seconds): the buckets merged into
 * bins at least 4 times as wide as the one before (Micrometer's bounds give 1 ms, 4.2 ms, 17 ms, 67 ms,
 * 270 ms, 1.1 s, 4.3 s, 17 s and above), one bar each, the count of observations in it.
 */
function drawHistogram(id, cumulative) {
  // [upper bound in seconds, observations up to it], ascending, +Inf last
  const points = [...(cumulative ?? new Map())].map(([le, n]) => [le === '+Inf' ? Infinity : Number(le), n])
    .sort((a, b) => a[0] - b[0]);
  const edges = [];
  for (const [le, n] of points) {
    if (le === Infinity || edges.length === 0 || le >= 3.9 * edges[edges.length - 1][0]) {
      edges.push([le, n]);
    }
  }
  const counts = edges.map(([, n], i) => Math.max(0, n - (i > 0 ? edges[i - 1][1] : 0)));
  const labels = edges.map(([le], i) => (le !== Infinity ? `≤${seconds(le)}`
    : i > 0 ? `>${seconds(edges[i - 1][0])}` : 'all'));
  const total = edges.length > 0 ? edges[edges.length - 1][1] : 0;
  const svg = $(id);
  svg.dataset.total = String(total);
  drawBars(svg, counts, (c, i) => `${labels[i]}: ${c}`);
  [...svg.children].forEach((bar, i) => { bar.dataset.count = String(counts[i]); });
  $(`${id}-axis`).replaceChildren(...labels.map((l) => Object.assign(document.createElement('span'), { textContent: l })));
  $(`${id}-n`).textContent = `(${total} observed)`;
}

/** A duration in seconds as a short label, two significant digits: 1ms, 4.2ms, 270ms, 1.1s. */
function seconds(s) {
  return s < 1 ? `${Number((s * 1000).toPrecision(2))}ms` : `${Number(s.toPrecision(2))}s`;
}

let previous = null;

async function poll() {
  try {
    const res = await fetch('/metrics', { cache: 'no-store' });
    if (res.status === 404) {
      $('g-note').textContent = '(this server publishes its metrics elsewhere)';
      return;
    }
    const now = parseMetrics(await res.text());
    const s = now.sums;
    $('g-connections').textContent = fmt(s.get('shiftformer_connections'));
    $('g-streams').textContent = fmt(s.get('shiftformer_streams_live'));
    $('g-queue').textContent = fmt(s.get('shiftformer_queue_depth'));
    if (previous !== null) {
      const dt = (now.at - previous.at) / 1000;
      const tokens = (s.get('shiftformer_tokens_total') ?? 0) - (previous.sums.get('shiftformer_tokens_total') ?? 0);
      $('g-tokens').textContent = dt > 0 ? Math.max(0, tokens / dt).toFixed(0) : '–';
      const steps = (s.get('shiftformer_batch_size_count') ?? 0) - (previous.sums.get('shiftformer_batch_size_count') ?? 0);
      const rows = (s.get('shiftformer_batch_size_sum') ?? 0) - (previous.sums.get('shiftformer_batch_size_sum') ?? 0);
      $('g-batch').textContent = steps > 0 ? (rows / steps).toFixed(1) : '0';
      $('g-ttft').textContent = meanMs(now, previous, 'shiftformer_time_to_first_token_seconds');
      $('g-itl').textContent = meanMs(now, previous, 'shiftformer_inter_token_latency_seconds');
    }
    showScores(now.scores);
    drawHistogram('h-ttft', now.buckets.get('shiftformer_time_to_first_token_seconds_bucket'));
    drawHistogram('h-itl', now.buckets.get('shiftformer_inter_token_latency_seconds_bucket'));
    const info = now.modelInfo;
    if (info !== null && info.fallback === 'true') {
      $('g-note').textContent = `(backend ${info.backend}, a fallback for ${info.requested_backend})`;
    } else {
      $('g-note').textContent = info === null ? '' : `(backend ${info.backend})`;
    }
    previous = now;
  } catch (e) {
    $('g-note').textContent = `(metrics unavailable: ${e.message})`;
  }
}

/** The mean of a timer's observations since the previous scrape, in ms; '–' without any. */
function meanMs(now, before, timer) {
  const count = (now.sums.get(`${timer}_count`) ?? 0) - (before.sums.get(`${timer}_count`) ?? 0);
  const sum = (now.sums.get(`${timer}_sum`) ?? 0) - (before.sums.get(`${timer}_sum`) ?? 0);
  return count > 0 ? ((1000 * sum) / count).toFixed(1) : '–';
}

function fmt(v) {
  return v === undefined ? '–' : String(Math.round(v));
}

$('translate').addEventListener('click', translate);
$('cancel').addEventListener('click', cancel);
$('auth-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  token = $('token').value || null;
  $('token').value = '';
  needsToken = false;
  connect();
});
connect();
poll();
setInterval(poll, 1000);
