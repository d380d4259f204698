// The admin dashboard: polls the HTTP API every 2 s with the key this tab was
// given (sessionStorage, sent as `Authorization: apikey ...`, never in a URL).
// Every value shown is set as text, never as HTML.
// @ts-check
/** @typedef {import('../../src/protocol/stats.js').ClusterStats} ClusterStats */
/** @typedef {import('../../src/protocol/stats.js').ChannelCount & { local: number }} ChannelRow */
/** @typedef {import('../../src/protocol/stats.js').DisconnectRecord} DisconnectRecord */
const POLL_MS = 2000;
/** 90 samples 2 s apart: the charts' time axis spans 3 minutes (index.html labels it). */
const SAMPLES = 90;
const KEY = 'switchboard.apiKey';
/**
 * The page's element with this id: every id used here is in index.html.
 * @param {string} id
 * @returns {any}
 */
const $ = (id) => document.getElementById(id);
/** @type {Record<'connections' | 'publications' | 'delivered', number[]>} */
const samples = { connections: [], publications: [], delivered: [] };
/** @type {ReturnType<typeof setInterval> | undefined} */
let timer;

/**
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
async function api(path, body) {
  const res = await fetch(path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { Authorization: `apikey ${sessionStorage.getItem(KEY)}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  });
  const data = await res.json().catch(() => ({}));
  if (res.status === 403 || res.status === 401) signOut('the key was refused');
  if (!res.ok) throw new Error(data.error?.message ?? `HTTP ${res.status}`);
  return data;
}

/**
 * @param {string} state
 * @param {string} text
 */
function status(state, text) {
  $('status').dataset.state = state;
  $('status').textContent = text;
}

/**
 * @template T
 * @param {string} table
 * @param {T[]} items
 * @param {(item: T) => Array<string | number | null | undefined>} cells
 */
function rows(table, items, cells) {
  const body = $(table).tBodies[0];
  body.replaceChildren(
    ...items.map((item) => {
      const tr = document.createElement('tr');
      for (const value of cells(item)) {
        const td = tr.insertCell();
        td.textContent = String(value ?? '');
        if (typeof value === 'number') td.className = 'n';
      }
      return tr;
    }),
  );
}

/** @param {unknown} x */
const num = (x) => Math.round((Number(x) || 0) * 10) / 10;
/** @param {number} s */
const ago = (s) => (s < 3600 ? `${Math.floor(s / 60)}m` : s < 86400 ? `${Math.floor(s / 3600)}h` : `${Math.floor(s / 86400)}d`);

/**
 * @param {string} id
 * @param {number[][]} series
 */
function chart(id, series) {
  const svg = $(id);
  const max = Math.max(1, ...series.flat());
  const ns = 'http://www.w3.org/2000/svg';
  const lines = series.map((values, i) => {
    // One sample is a point: draw it as a short flat line.
    if (values.length === 1) values = [values[0], values[0]];
    const line = document.createElementNS(ns, 'polyline');
    line.setAttribute('class', `s${i}`);
    const step = 300 / (SAMPLES - 1);
    const x0 = 300 - (values.length - 1) * step;
    // The full height: the y axis's ticks (max, half, 0) sit at its top, middle and bottom.
    line.setAttribute('points', values.map((v, j) => `${(x0 + j * step).toFixed(1)},${(79 - (v / max) * 78).toFixed(1)}`).join(' '));
    return line;
  });
  // A dashed line at half the scale, where the middle tick is.
  const half = document.createElementNS(ns, 'line');
  half.setAttribute('class', 'grid');
  for (const [k, v] of Object.entries({ x1: 0, x2: 300, y1: 40, y2: 40 })) half.setAttribute(k, String(v));
  // The ticks are HTML beside the SVG: text inside a stretched SVG would stretch too.
  $(`${id}-max`).textContent = num(max);
  $(`${id}-mid`).textContent = num(max / 2);
  svg.replaceChildren(half, ...lines);
}

/**
 * @param {keyof typeof samples} name
 * @param {number} value
 */
function push(name, value) {
  samples[name].push(num(value));
  if (samples[name].length > SAMPLES) samples[name].shift();
}

async function poll() {
  try {
    /** @type {[ClusterStats, { channels: ChannelRow[] }, { disconnects: DisconnectRecord[] }]} */
    const [stats, channels, disconnects] = await Promise.all([api('api/stats'), api('api/channels?top=10'), api('api/disconnects?limit=30')]);
    const { totals, nodes } = stats;
    $('t-nodes').textContent = totals.nodes;
    $('t-connections').textContent = totals.connections;
    $('t-subscriptions').textContent = totals.subscriptions;
    $('t-publications').textContent = num(totals.rates.publications);
    $('t-delivered').textContent = num(totals.rates.delivered);
    push('connections', totals.connections);
    push('publications', totals.rates.publications);
    push('delivered', totals.rates.delivered);
    chart('chart-connections', [samples.connections]);
    chart('chart-rates', [samples.publications, samples.delivered]);
    rows('nodes', nodes, (n) => [
      n.node.slice(0, 8),
      n.address ?? '(attached)',
      n.version,
      n.connections,
      n.subscriptions,
      num(n.rates.publications),
      num(n.rates.delivered),
      ago(n.uptime),
    ]);
    rows('channels', channels.channels, (c) => [c.channel, c.subscribers, c.local]);
    rows('disconnects', disconnects.disconnects, (d) => [
      new Date(d.at).toLocaleTimeString(),
      d.user ?? '(anonymous)',
      d.client.slice(0, 8),
      d.code,
      d.reason,
      d.by,
    ]);
    status('live', `live ${new Date().toLocaleTimeString()}`);
  } catch (error) {
    if (sessionStorage.getItem(KEY)) status('error', error instanceof Error ? error.message : String(error));
  }
}

function signIn() {
  $('key-form').hidden = true;
  $('board').hidden = false;
  $('signout').hidden = false;
  status('signed-out', 'connecting');
  poll();
  timer = setInterval(() => document.hidden || poll(), POLL_MS);
}

/** @param {string} [why] */
function signOut(why) {
  sessionStorage.removeItem(KEY);
  clearInterval(timer);
  $('key-form').hidden = false;
  $('board').hidden = true;
  $('signout').hidden = true;
  status('signed-out', why ?? 'signed out');
}

/** Runs a form's action, showing its answer or its error under the form. */
/**
 * @param {string} form
 * @param {string} output
 * @param {() => Promise<string>} action
 */
function onSubmit(form, output, action) {
  $(form).addEventListener('submit', async (/** @type {SubmitEvent} */ event) => {
    event.preventDefault();
    const out = $(output);
    out.className = 'result';
    try {
      out.textContent = await action();
    } catch (error) {
      out.className = 'result error';
      out.textContent = error instanceof Error ? error.message : String(error);
    }
  });
}

$('key-form').addEventListener('submit', (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, $('key').value);
  $('key').value = '';
  signIn();
});
$('signout').addEventListener('click', () => signOut());

onSubmit('publish-form', 'publish-result', async () => {
  let payload;
  try {
    payload = JSON.parse($('publish-payload').value);
  } catch {
    throw new Error('the payload must be JSON (quote a plain string)');
  }
  const { offset } = await api('api/publish', { channel: $('publish-channel').value, payload });
  return offset === null ? 'published (no history on this channel)' : `published at offset ${offset}`;
});

onSubmit('disconnect-form', 'disconnect-result', async () => {
  const reason = $('disconnect-reason').value;
  const body = { user: $('disconnect-user').value, code: Number($('disconnect-code').value), ...(reason ? { reason } : {}) };
  const { disconnected } = await api('api/disconnect', body);
  return `${disconnected} connection${disconnected === 1 ? '' : 's'} closed with ${body.code}`;
});

onSubmit('presence-form', 'presence-result', async () => {
  const channel = $('presence-channel').value;
  const { clients, count, truncated } = await api(`api/presence?channel=${encodeURIComponent(channel)}`);
  $('presence').replaceChildren(
    ...clients.map((/** @type {import('../../src/protocol/frames.js').PresenceEntry} */ c) => {
      const li = document.createElement('li');
      li.textContent = `${c.user ?? '(anonymous)'} · ${c.client.slice(0, 8)}`;
      return li;
    }),
  );
  return `${count ?? clients.length} present in ${channel}${truncated ? ' (list cut short)' : ''}`;
});

// A click on a busy channel shows who is in it.
$('channels').addEventListener('click', (/** @type {MouseEvent} */ event) => {
  const cell = event.target instanceof Element ? event.target.closest('td:first-child') : null;
  if (!cell) return;
  $('presence-channel').value = cell.textContent;
  $('presence-form').requestSubmit();
});

if (sessionStorage.getItem(KEY)) signIn();

// A module (index.html loads it as one): its names are its own, not the window's.
export {};
