// A child process of bench/storm.mjs: either `subscribers` (SDK clients, each
// on one channel) or `publishers` (SDK clients publishing numbered payloads).
// Everything is reported to the parent over IPC; times are wall-clock ms
// (timeOrigin + now) so that they compare across processes.
import WebSocket from 'ws';
import { connect } from '../dist/client/node.js';

const role = process.argv[2];
const opts = JSON.parse(process.argv[3]);
const now = () => performance.timeOrigin + performance.now();
const send = (message) => process.connected && process.send(message);

// The SDK swallows socket errors (onerror is a no-op), so the HTTP status of a
// refused handshake is only visible on the `ws` object: count them here.
const attemptErrors = {};
class CountingWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols, { perMessageDeflate: false });
    this.on('error', (error) => {
      const status = /Unexpected server response: (\d+)/.exec(error.message);
      const kind = status ? `http ${status[1]}` : (error.code ?? error.message.slice(0, 60));
      attemptErrors[kind] = (attemptErrors[kind] ?? 0) + 1;
    });
  }
}

const clients = [];
process.on('disconnect', () => process.exit(0));
process.on('message', (message) => {
  if (message.type === 'report') send({ type: 'report', ...(role === 'subscribers' ? subscriberReport() : publisherReport()) });
  if (message.type === 'stop') stopPublishing();
  if (message.type === 'arm') {
    armed = true;
    send({ type: 'armed' });
  }
  if (message.type === 'round') startRound(message.round);
  if (message.type === 'round-report') send({ type: 'round-report', ...roundReport() });
  if (message.type === 'close') {
    for (const client of clients) client.close();
    setTimeout(() => process.exit(0), 200);
  }
});

// The first attempt starts inside connect(), before these listeners exist:
// `attempts` counts the later ones, `connects` every welcome.
function watchClient(client, tally) {
  client.on('connecting', () => tally.attempts++);
  client.on('connected', () => tally.connects++);
  client.on('disconnected', ({ code, reason }) => {
    // A retry hint's value differs per client: counted by code alone, the hints kept apart (rolling mode reports them).
    const hint = /^\{"retryIn":(\d+)\}$/.exec(reason ?? '');
    if (hint) tally.retryIn.push(Number(hint[1]));
    const key = `${code} ${hint ? '{retryIn}' : reason || ''}`.trim();
    tally.disconnects[key] = (tally.disconnects[key] ?? 0) + 1;
  });
  // With reconnect on, 'closed' means the client stopped trying for good.
  client.on('closed', () => tally.gaveUp++);
}

// ---------------------------------------------------------------- subscribers

const tally = { attempts: 0, connects: 0, disconnects: {}, gaveUp: 0, retryIn: [] };
const subs = [];
/** channel -> Set of "publisher:seq" seen by any client of this process. */
const seen = new Map();

const { first, count } = opts;
function startSubscribers() {
  const { url, channels, prefix } = opts;
  for (let i = first; i < first + count; i++) {
    const channel = `${prefix}${i % channels}`;
    const client = connect(url, { WebSocket: CountingWebSocket });
    watchClient(client, tally);
    clients.push(client);
    const state = { subscribes: 0, readyAt: null, resubAt: null, recovered: null, last: null, gaps: 0, received: 0, dups: 0 };
    subs.push(state);
    if (!seen.has(channel)) seen.set(channel, new Set());
    const mine = seen.get(channel);
    const sub = client.subscribe(channel, (payload, frame) => {
      state.received++;
      if (payload && typeof payload === 'object') mine.add(`${payload.p}:${payload.seq}`);
      // Offsets must follow on from the last one, also across a recovered resubscribe.
      if (typeof frame.offset === 'number') {
        if (state.last !== null && frame.offset > state.last + 1) state.gaps += frame.offset - state.last - 1;
        // An offset not past the last one: a publication handed to the application twice (or out of order).
        if (state.last !== null && frame.offset <= state.last) state.dups++;
        state.last = frame.offset;
      }
    });
    // Rolling mode: a client dropped in this round is back at its next subscribe reply.
    client.on('disconnected', () => {
      if (round === 0) return;
      state.droppedAt ??= now();
      if (!state.pending) pending++;
      state.pending = true;
    });
    sub.on('subscribed', (result) => {
      state.subscribes++;
      if (state.pending) {
        state.pending = false;
        state.backAt = now();
        pending--;
        if (!result.recovered) resets++;
      }
      if (state.subscribes === 1) {
        state.readyAt = now();
        state.last = result.offset;
        if (++ready === count) send({ type: 'ready' });
        return;
      }
      if (armed && state.resubAt === null) {
        // The first resubscribe after the restart: the figure the storm is about.
        state.resubAt = now();
        state.recovered = result.recovered;
        resubscribed++;
      }
      // A reset starts a new epoch: offsets begin again from the reply's.
      if (!result.recovered) state.last = result.offset;
    });
    sub.on('error', (error) => {
      state.refused = `${error.code}: ${error.message}`;
    });
  }
  setInterval(
    () =>
      send({
        type: 'progress',
        ready,
        resubscribed,
        received: subs.reduce((s, x) => s + x.received, 0),
        connected: clients.filter((c) => c.state === 'connected').length,
        ...(round > 0 ? { pending } : {}),
      }),
    opts.progressEvery ?? 1000,
  ).unref();
}
let ready = 0;
let resubscribed = 0;
/** Set just before the kill: resubscribes before it (none expected) are not the storm's. */
let armed = false;

// ------------------------------------------------------------ rolling rounds
// bench/storm.mjs --nodes 2 restarts one node per round: each round counts
// from its start what the clients went through, and which of them dropped and
// when they were back (subscribed again).

let round = 0;
let pending = 0;
/** Resubscribes in rounds answered `recovered: false`. */
let resets = 0;
let roundBase = null;

const copyTally = () => ({
  attempts: tally.attempts,
  connects: tally.connects,
  gaveUp: tally.gaveUp,
  disconnects: { ...tally.disconnects },
  attemptErrors: { ...attemptErrors },
  dups: subs.reduce((sum, s) => sum + s.dups, 0),
  gaps: subs.reduce((sum, s) => sum + s.gaps, 0),
  resets,
  retryIn: tally.retryIn.length,
});
const minus = (a, b) =>
  Object.fromEntries(
    Object.entries(a)
      .map(([k, v]) => [k, v - (b[k] ?? 0)])
      .filter(([, v]) => v !== 0),
  );

function startRound(n) {
  round = n;
  pending = 0;
  for (const state of subs) Object.assign(state, { droppedAt: null, backAt: null, pending: false });
  roundBase = copyTally();
  send({ type: 'round-started' });
}

function roundReport() {
  const end = copyTally();
  const dropped = subs.filter((s) => s.droppedAt !== null);
  return {
    attempts: end.attempts - roundBase.attempts,
    connects: end.connects - roundBase.connects,
    gaveUp: end.gaveUp - roundBase.gaveUp,
    disconnects: minus(end.disconnects, roundBase.disconnects),
    attemptErrors: minus(end.attemptErrors, roundBase.attemptErrors),
    dups: end.dups - roundBase.dups,
    gaps: end.gaps - roundBase.gaps,
    resets: end.resets - roundBase.resets,
    retryIn: tally.retryIn.slice(roundBase.retryIn),
    dropped: dropped.length,
    droppedAt: dropped.map((s) => s.droppedAt),
    backAt: dropped.map((s) => s.backAt),
    pending,
    connected: clients.filter((c) => c.state === 'connected').length,
  };
}

function subscriberReport() {
  return {
    resubAt: subs.map((s) => s.resubAt),
    recovered: subs.filter((s) => s.recovered === true).length,
    reset: subs.filter((s) => s.recovered === false).length,
    gapsAfterRecovery: subs.filter((s) => s.recovered === true).reduce((sum, s) => sum + s.gaps, 0),
    refused: subs
      .filter((s) => s.refused)
      .map((s) => s.refused)
      .slice(0, 5),
    connectedAtEnd: clients.filter((c) => c.state === 'connected').length,
    received: subs.reduce((sum, s) => sum + s.received, 0),
    seen: Object.fromEntries([...seen].map(([channel, set]) => [channel, [...set]])),
    attempts: tally.attempts,
    connects: tally.connects,
    clients: count,
    disconnects: tally.disconnects,
    gaveUp: tally.gaveUp,
    attemptErrors,
  };
}

// ----------------------------------------------------------------- publishers

const acked = [];
const rejected = [];
let outstanding = 0;
let ticker = null;

async function startPublishers() {
  const { url, publishers, rate, channels, prefix } = opts;
  for (let p = 0; p < publishers; p++) {
    const client = connect(url, { WebSocket: CountingWebSocket });
    watchClient(client, tally);
    clients.push(client);
  }
  await Promise.all(
    clients.map(
      (c) =>
        new Promise((resolve) => {
          if (c.state === 'connected') return resolve();
          const off = c.on('connected', () => (off(), resolve()));
        }),
    ),
  );
  send({ type: 'ready' });
  const seqs = new Array(publishers).fill(0);
  const started = now();
  let done = 0;
  // Due publications are sent on a 10 ms tick, round-robin over the publishers,
  // each spread over the channels, so every channel has something to recover.
  ticker = setInterval(() => {
    const due = Math.floor(((now() - started) / 1000) * rate);
    for (; done < due; done++) {
      const p = done % publishers;
      const seq = ++seqs[p];
      const channel = `${prefix}${(seq * publishers + p) % channels}`;
      const sentAt = now();
      outstanding++;
      clients[p]
        .publish(channel, { p, seq, t: sentAt })
        .then(
          (result) => acked.push([p, seq, channel, result.offset, sentAt, now()]),
          (error) => rejected.push([p, seq, channel, error.code ?? 'error', String(error.message).slice(0, 80), sentAt, now()]),
        )
        .finally(() => outstanding--);
    }
  }, 10);
}

function stopPublishing() {
  clearInterval(ticker);
  // Every request settles (reply, rejection or its 10 s timeout): wait for that.
  const check = setInterval(() => {
    if (outstanding > 0) return;
    clearInterval(check);
    send({ type: 'stopped' });
  }, 50);
}

function publisherReport() {
  return {
    acked,
    rejected,
    clients: opts.publishers,
    attempts: tally.attempts,
    connects: tally.connects,
    disconnects: tally.disconnects,
    gaveUp: tally.gaveUp,
    attemptErrors,
  };
}

if (role === 'subscribers') startSubscribers();
else if (role === 'publishers') startPublishers();
else throw new Error(`unknown role ${role}`);
