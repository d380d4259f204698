// One `bench` worker process: holds its share of the connections, from its
// source addresses, and counts what arrives by scanning bytes (the marker
// and the digits after it), never parsing JSON per message, so that it costs
// less per message than the server it measures. Driven over IPC by index.ts,
// which forks this file by path (./worker.js beside it in dist/cli/bench/).
import { Histogram } from './histogram.js';
import { gapFromWelcome } from './pace.js';
import { LeanSocket } from './socket.js';

export type Scenario = 'fanout' | 'echo' | 'connect' | 'idle' | 'broadcast';

export interface WorkerConfig {
  url: string;
  scenario: Scenario;
  /** Connections held by this worker (in `connect`: concurrent connect loops). */
  count: number;
  /** Source addresses for this worker's connections, used in turn; empty: the system's choice. */
  addresses: string[];
  headers: Record<string, string>;
  handshakes: number;
  channel: string;
}

export type ParentMessage = { type: 'start'; config: WorkerConfig } | { type: 'go' } | { type: 'report' } | { type: 'stop' };

export interface WorkerReport {
  type: 'report';
  connected: number;
  open: number;
  /** Handshakes that failed, by reason. */
  failed: Record<string, number>;
  /** Connections closed after the welcome, by close code. */
  closed: Record<string, number>;
  /** Deliveries (fanout), round trips (echo) or connects (connect). */
  count: number;
  /** Frames answering with rate_limited. */
  rateLimited: number;
  /** Pings held back to stay under the server's announced rate (pace.ts). */
  paced: number;
  /** µs between two pings of one connection under that rate; 0 when not paced. */
  gapMicros: number;
  histogram: [number, number][];
  cpuMicros: number;
}

/** Monotonic microseconds, the same clock in every process on the machine (CLOCK_MONOTONIC). */
export function nowMicros(): number {
  const [s, ns] = process.hrtime();
  return s * 1_000_000 + Math.floor(ns / 1000);
}

const RATE_LIMITED = Buffer.from('"rate_limited"');
const WELCOME = Buffer.from('{"type":"welcome"');

function contains(buf: Buffer, marker: Buffer, start: number, end: number): boolean {
  const at = buf.indexOf(marker, start);
  return at >= 0 && at + marker.length <= end;
}

/** The unsigned integer right after `marker` in bytes [start, end) of buf, or -1. */
export function numberAfter(buf: Buffer, marker: Buffer, start: number, end: number): number {
  let at = buf.indexOf(marker, start);
  if (at < 0 || at + marker.length > end) return -1;
  at += marker.length;
  let value = 0;
  let digits = 0;
  for (; at < end; at++, digits++) {
    const c = buf[at]!;
    if (c < 48 || c > 57) break;
    value = value * 10 + (c - 48);
  }
  return digits === 0 ? -1 : value;
}

function run(): void {
  let config: WorkerConfig;
  let url: URL;
  const histogram = new Histogram();
  const sockets = new Set<LeanSocket>();
  /** echo: when each connection sent its last ping (µs). */
  const lastPing = new Map<LeanSocket, number>();
  const state = { connected: 0, count: 0, rateLimited: 0, paced: 0, gapMicros: -1 };
  const failed: Record<string, number> = {};
  const closed: Record<string, number> = {};
  let going = false;
  let stopping = false;
  let nextAddress = 0;

  const TS = Buffer.from('"t":');
  const ID = Buffer.from('"id":');

  type OnFrame = (socket: LeanSocket, buf: Buffer, start: number, end: number) => void;

  /** Open one connection; resolves once it is welcomed or has failed. */
  const open = (onWelcome: (socket: LeanSocket, started: number) => void, onFrame?: OnFrame): Promise<void> =>
    new Promise((resolve) => {
      const started = nowMicros();
      const address = config.addresses.length ? config.addresses[nextAddress++ % config.addresses.length] : undefined;
      let welcomed = false;
      const socket: LeanSocket = new LeanSocket(url, config.headers, address, {
        text(buf, start, end) {
          if (welcomed) {
            if (onFrame) onFrame(socket, buf, start, end);
            else if (contains(buf, RATE_LIMITED, start, end)) state.rateLimited += 1;
            return;
          }
          if (buf.compare(WELCOME, 0, WELCOME.length, start, start + WELCOME.length) !== 0) return;
          welcomed = true;
          // Every connection to one server is announced the same rate: read it once.
          if (state.gapMicros < 0) state.gapMicros = gapFromWelcome(buf.toString('utf8', start, end));
          state.connected += 1;
          sockets.add(socket);
          onWelcome(socket, started);
          resolve();
        },
        failed(reason) {
          failed[reason] = (failed[reason] ?? 0) + 1;
          resolve();
        },
        closed(code) {
          if (!welcomed) {
            failed[`closed ${code} before the welcome`] = (failed[`closed ${code} before the welcome`] ?? 0) + 1;
            return resolve();
          }
          sockets.delete(socket);
          lastPing.delete(socket);
          if (!stopping && config.scenario !== 'connect') closed[code] = (closed[code] ?? 0) + 1;
        },
      });
    });

  /** Open `total` connections with at most config.handshakes in flight. */
  const openAll = async (total: number, onWelcome: (socket: LeanSocket, started: number) => void, onFrame?: OnFrame) => {
    let started = 0;
    const lane = async () => {
      while (started < total && !stopping) {
        started += 1;
        await open(onWelcome, onFrame);
      }
    };
    await Promise.all(Array.from({ length: Math.min(config.handshakes, total) }, lane));
  };

  const subscribe = (socket: LeanSocket) => socket.send(`{"type":"subscribe","channel":${JSON.stringify(config.channel)}}`);

  const onFanout: OnFrame = (_socket, buf, start, end) => {
    const sent = numberAfter(buf, TS, start, end);
    if (sent >= 0) {
      state.count += 1;
      histogram.record(nowMicros() - sent);
    } else if (contains(buf, RATE_LIMITED, start, end)) state.rateLimited += 1;
  };

  const ping = (socket: LeanSocket) => {
    const now = nowMicros();
    lastPing.set(socket, now);
    socket.send(`{"type":"ping","id":${now}}`);
  };
  /** The next ping as soon as the server's announced rate allows it. */
  const pingPaced = (socket: LeanSocket) => {
    const wait = (lastPing.get(socket) ?? 0) + Math.max(0, state.gapMicros) - nowMicros();
    if (wait <= 0) return ping(socket);
    state.paced += 1;
    setTimeout(() => going && !stopping && sockets.has(socket) && ping(socket), Math.ceil(wait / 1000));
  };
  const onEcho: OnFrame = (socket, buf, start, end) => {
    const sent = numberAfter(buf, ID, start, end);
    if (sent >= 0 && !contains(buf, RATE_LIMITED, start, end)) {
      state.count += 1;
      histogram.record(nowMicros() - sent);
    } else state.rateLimited += 1;
    if (going && !stopping) pingPaced(socket);
  };

  // connect: each lane opens, waits for the welcome, closes, and goes again.
  const connectLoop = async () => {
    while (going && !stopping) {
      await open((socket, started) => {
        state.count += 1;
        histogram.record(nowMicros() - started);
        socket.close(1000);
      });
    }
  };

  process.on('message', (message: ParentMessage) => {
    switch (message.type) {
      case 'start':
        config = message.config;
        url = new URL(config.url);
        if (config.scenario === 'connect') {
          process.send!({ type: 'connected' });
          return;
        }
        void openAll(
          config.count,
          (socket) => (config.scenario === 'echo' ? undefined : subscribe(socket)),
          config.scenario === 'fanout' || config.scenario === 'broadcast' ? onFanout : config.scenario === 'echo' ? onEcho : undefined,
        ).then(() => process.send!({ type: 'connected' }));
        return;
      case 'go':
        going = true;
        if (config.scenario === 'echo') for (const socket of sockets) ping(socket);
        if (config.scenario === 'connect') for (let i = 0; i < config.count; i++) void connectLoop();
        return;
      case 'report': {
        const cpu = process.cpuUsage();
        const report: WorkerReport = {
          type: 'report',
          connected: state.connected,
          open: sockets.size,
          failed,
          closed,
          count: state.count,
          rateLimited: state.rateLimited,
          paced: state.paced,
          gapMicros: Math.max(0, state.gapMicros),
          histogram: histogram.drain(),
          cpuMicros: cpu.user + cpu.system,
        };
        process.send!(report);
        return;
      }
      case 'stop':
        stopping = true;
        going = false;
        for (const socket of sockets) socket.terminate();
        process.disconnect();
        setTimeout(() => process.exit(0), 100).unref();
        return;
    }
  });
  process.on('disconnect', () => process.exit(0));
}

if (process.send) run();
