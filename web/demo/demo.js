// The demo page: a live chat on one channel through the browser client served
// at /client.js. It shows who is here (presence, with a join and a leave per
// tab), the channel's history on load, the reconnect with a live countdown,
// messages not yet stored (queued while offline, sending until the server
// answers), and what a server restart kept. Every value shown is set as text.
// @ts-check
/** @typedef {import('../../src/client/index.js')} ClientModule */
/** @typedef {import('../../src/client/index.js').PresenceEntry} PresenceEntry */
/** @typedef {import('../../src/client/index.js').SubscribeResult} SubscribeResult */

// The bundle beside this page (under httpPrefix too). A variable, not a literal:
// the typecheck takes the types from src/, the browser the bundle from this server.
const CLIENT_URL = new URL('../client.js', import.meta.url).href;
/** @type {ClientModule} */
const { connect } = await import(CLIENT_URL);

/**
 * The page's element with this id: every id used here is in index.html.
 * @param {string} id
 * @returns {any}
 */
const $ = (id) => document.getElementById(id);

const channel = new URLSearchParams(location.search).get('channel') ?? 'demo:lobby';
$('channel').textContent = channel;

// A short reconnect cap: a demo has a few tabs, not a crowd to spread out. The
// SDK's default cap (20 s) is for thousands of clients coming back at once;
// after a few seconds down it can leave a tab waiting 8 s or more.
const client = connect(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`, {
  reconnect: { initialDelay: 250, maxDelay: 2000 },
});

/** @type {Set<string>} Client ids this tab has had: a reconnect is a new connection with a new id. */
const mine = new Set();
/** @param {{ client: string, user?: string | null } | undefined} who */
const nameOf = (who) => (who ? (who.user ?? `guest-${who.client.slice(0, 4)}`) : 'server');

// --- Connection state, with a live countdown while waiting to reconnect ---

/** @type {ReturnType<typeof setInterval> | undefined} */
let countdown;
let attempts = 0;
client.on('state', ({ state, delay, code }) => {
  clearInterval(countdown);
  const pill = $('state');
  $('retry').hidden = state !== 'disconnected';
  if (state === 'connected') {
    attempts = 0;
    if (client.session) mine.add(client.session.client);
    pill.dataset.state = 'connected';
    $('state-text').textContent = 'connected';
  } else if (state === 'disconnected') {
    attempts += 1;
    pill.dataset.state = 'disconnected';
    const at = Date.now() + (delay ?? 0);
    const tick = () => {
      const left = Math.max(0, at - Date.now()) / 1000;
      $('state-text').textContent = `connection lost${code ? ` (${code})` : ''}: reconnecting in ${left.toFixed(1)} s, attempt ${attempts}`;
    };
    tick();
    countdown = setInterval(tick, 100);
  } else if (state === 'connecting') {
    pill.dataset.state = attempts ? 'connecting-again' : 'connecting';
    $('state-text').textContent = attempts ? `reconnecting, attempt ${attempts}…` : 'connecting…';
  } else {
    pill.dataset.state = 'closed';
    $('state-text').textContent = `closed (${code ?? ''}): reload the page`;
  }
});
$('retry').addEventListener('click', () => client.reconnectNow());
// A tab coming back to the front should not wait out its backoff.
document.addEventListener('visibilitychange', () => document.hidden || client.reconnectNow());

// --- Messages: history and live, in offset order, each once ---

const list = $('messages');
/** The epoch of the channel's history as last subscribed: offsets count within it. */
let epoch = /** @type {string | null} */ (null);
/** @type {Map<string, HTMLLIElement>} Messages shown, by epoch:offset. */
const shown = new Map();

/**
 * @param {string} className
 * @param {Array<[string, string]>} parts class and text of each span
 */
function item(className, parts) {
  const li = document.createElement('li');
  li.className = className;
  for (const [cls, text] of parts) {
    const span = document.createElement('span');
    span.className = cls;
    span.textContent = text;
    li.append(span);
  }
  return li;
}

/** @param {unknown} payload */
const textOf = (payload) => (typeof payload === 'object' && payload !== null && 'text' in payload ? String(payload.text) : JSON.stringify(payload));

/**
 * Put a stored message in its place: after every earlier offset of its epoch, before the messages still pending.
 * @param {HTMLLIElement} li
 * @param {number} offset
 */
function place(li, offset) {
  li.dataset.epoch = epoch ?? '';
  li.dataset.offset = String(offset);
  let before = list.querySelector('li.pending');
  for (const other of /** @type {HTMLLIElement[]} */ ([...list.children])) {
    if (other.dataset.epoch === li.dataset.epoch && Number(other.dataset.offset) > offset) {
      before = other;
      break;
    }
  }
  list.insertBefore(li, before);
  shown.set(`${epoch}:${offset}`, li);
  $('empty').hidden = true;
  li.scrollIntoView({ block: 'nearest' });
}

/**
 * @param {unknown} payload
 * @param {number | undefined} offset
 * @param {{ client: string, user?: string | null } | undefined} from
 */
function showMessage(payload, offset, from) {
  if (offset !== undefined && shown.has(`${epoch}:${offset}`)) return;
  const own = from !== undefined && mine.has(from.client);
  const li = item('message', [
    ['offset', offset === undefined ? '' : `#${offset}`],
    [own ? 'who you' : 'who', own ? 'you' : nameOf(from)],
    ['text', textOf(payload)],
  ]);
  if (offset === undefined) list.insertBefore(li, list.querySelector('li.pending'));
  else place(li, offset);
}

/** @param {string} text */
function notice(text) {
  list.insertBefore(item('notice', [['', text]]), list.querySelector('li.pending'));
}

async function loadHistory() {
  const history = await client.history(channel, { limit: 50 }).catch(() => null);
  for (const p of history?.publications ?? []) showMessage(p.payload, p.offset, p.from);
}

const subscription = client.subscribe(channel, (payload, message) => showMessage(payload, message.offset, message.from));

subscription.on('subscribed', (/** @type {SubscribeResult} */ result) => {
  const before = epoch;
  epoch = result.epoch;
  if (before !== null && result.recovered) {
    notice('Reconnected: nothing was missed (the server still had this channel’s history).');
  } else if (before !== null && result.epoch !== before) {
    notice(
      'The server started again with an empty history: the in-memory broker keeps nothing across a restart, so offsets start again at #1. ' +
        'With --redis, the history and offsets would have carried on.',
    );
  } else if (before !== null) {
    notice('Reconnected after more than the history keeps: messages older than it may have been missed.');
  }
  // History on load, and after a reconnect that could not replay what was missed.
  if (before === null || !result.recovered) void loadHistory();
  void loadPresence();
});
subscription.on('error', (error) => notice(`This page cannot subscribe to ${channel}: ${error.code}: ${error.message}`));

// --- Who is here: the presence list, then joins and leaves ---

/** @type {Map<string, PresenceEntry>} Present clients by client id. */
const here = new Map();

function drawHere() {
  const entries = [...here.values()].sort((a, b) => Number(mine.has(b.client)) - Number(mine.has(a.client)));
  $('here').replaceChildren(
    ...entries.map((/** @type {PresenceEntry} */ entry) => {
      const li = document.createElement('li');
      li.textContent = mine.has(entry.client) ? `${nameOf(entry)} (you)` : nameOf(entry);
      return li;
    }),
  );
  $('here-count').textContent = `(${here.size})`;
}

async function loadPresence() {
  try {
    const { clients } = await client.presence(channel);
    here.clear();
    for (const entry of clients) here.set(entry.client, entry);
    $('here-note').hidden = true;
  } catch (error) {
    here.clear();
    $('here-note').hidden = false;
    $('here-note').textContent =
      `Presence is off for this channel (${error instanceof Error ? error.message : String(error)}): the server's namespace needs "presence": true.`;
  }
  drawHere();
}
subscription.on('join', (/** @type {PresenceEntry} */ entry) => {
  here.set(entry.client, entry);
  drawHere();
});
subscription.on('leave', (/** @type {PresenceEntry} */ entry) => {
  here.delete(entry.client);
  drawHere();
});

// --- Sending: shown at once, marked until the server has stored it ---

$('send').addEventListener('submit', async (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  const input = $('text');
  const text = String(input.value);
  input.value = '';
  const queued = client.state !== 'connected';
  const li = item('message pending', [
    ['offset', ''],
    ['who you', 'you'],
    ['text', text],
    [queued ? 'tag queued' : 'tag sending', queued ? 'queued: sends when reconnected' : 'sending'],
  ]);
  list.append(li);
  $('empty').hidden = true;
  li.scrollIntoView({ block: 'nearest' });
  // A queued message turns to sending once the connection is back.
  const stopWaiting = client.on('connected', () => tag(li, 'sending', 'sending'));
  try {
    const { offset } = await client.publish(channel, { text });
    stopWaiting();
    li.remove();
    // The message itself may have arrived first; if not, this tab shows it now.
    showMessage({ text }, offset ?? undefined, client.session ?? undefined);
  } catch (error) {
    stopWaiting();
    li.className = 'message failed';
    tag(li, 'failed', `not sent: ${error instanceof Error ? error.message : String(error)}`);
  }
});

/**
 * @param {HTMLLIElement} li
 * @param {string} kind
 * @param {string} text
 */
function tag(li, kind, text) {
  const span = li.querySelector('.tag');
  if (!span) return;
  span.className = `tag ${kind}`;
  span.textContent = text;
}

// A module (index.html loads it as one): its names are its own, not the window's.
export {};
