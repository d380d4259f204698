// Who may open a connection (a WebSocket or an HTTP stream), counted before and after the upgrade: TCP
// connections per address that have not upgraded (limits.pendingConnectionsPerIp,
// dropped past it), and open WebSockets in all and per address
// (limits.maxConnections, limits.connectionsPerIp). Refused handshakes are
// counted here too, by status and error code, for /metrics.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Tally } from './tally.js';
import type { Config } from './config.js';
import { refusal, type Refusal } from './handshake.js';
import type { LimitHits } from './limit-hits.js';

/** On a TCP socket that has not upgraded yet: the address it is counted under. */
const PENDING_IP = Symbol('switchboard.pendingIp');
/** The address an accepted connection counts under, for limits.connectionsPerIp. */
const ADMITTED_IP = Symbol('switchboard.admittedIp');

/** A TLS socket keeps its TCP socket (the one the 'connection' event saw) in _parent. */
type CountedSocket = Duplex & { [PENDING_IP]?: string | undefined; [ADMITTED_IP]?: string; _parent?: CountedSocket };

export class Admission {
  /** Refused handshakes by HTTP status and error code. */
  readonly refusals = new Tally();
  private readonly perIp = new Map<string, number>();
  /** TCP connections per address that have not become WebSockets (yet). */
  private readonly pendingPerIp = new Map<string, number>();
  private connections = 0;

  constructor(
    private readonly limits: Config['limits'],
    private readonly hits: LimitHits,
    /** True once the server drains: every handshake is refused with 503. */
    private readonly draining: () => boolean,
  ) {}

  /** 503 while draining or at the connection cap, 429 at the per-IP cap; takes no slot. */
  check(ip: string): Refusal | null {
    const { maxConnections, connectionsPerIp } = this.limits;
    if (this.draining()) return refusal(503, 'unavailable', 'server is shutting down');
    if (this.connections >= maxConnections) {
      this.hits.hit('maxConnections');
      return refusal(503, 'unavailable', 'server is at its connection cap');
    }
    if ((this.perIp.get(ip) ?? 0) >= connectionsPerIp) {
      this.hits.hit('connectionsPerIp');
      return refusal(429, 'too_many_connections', `at most ${connectionsPerIp} connections per IP`);
    }
    return null;
  }

  /**
   * For an accepted handshake: check the caps again (others may have got in
   * while the token was verified), then hold a slot until the socket closes.
   * Only connections hold slots, and their sockets no longer count as pending.
   * The slot is held until `holder` closes: the socket of a WebSocket, the
   * response of an HTTP stream (whose socket outlives it with keep-alive).
   */
  admit(ip: string, socket: Duplex, holder: { on(event: 'close', listener: () => void): unknown } = socket): Refusal | null {
    const refused = this.check(ip);
    if (refused) return refused;
    this.connections++;
    this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
    (holder as CountedSocket)[ADMITTED_IP] = ip;
    holder.on('close', this.onAdmittedClose);
    this.releasePending(socket);
    return null;
  }

  /**
   * Count each TCP connection under its address until it becomes a WebSocket
   * or closes; past limits.pendingConnectionsPerIp, drop it before it costs
   * more (silent sockets, slow handshakes, idle keep-alive HTTP all count).
   */
  readonly countPending = (socket: Socket): void => {
    const ip = socket.remoteAddress;
    if (ip === undefined) return; // already closed
    const pending = this.pendingPerIp.get(ip) ?? 0;
    if (pending >= this.limits.pendingConnectionsPerIp) {
      this.hits.hit('pendingConnectionsPerIp');
      socket.destroy();
      return;
    }
    this.pendingPerIp.set(ip, pending + 1);
    (socket as CountedSocket)[PENDING_IP] = ip;
    socket.on('close', this.onPendingClose);
  };

  /** Stop counting the socket (or, for TLS, its TCP socket) as pending; once only. */
  releasePending(socket: Duplex): void {
    let counted = socket as CountedSocket;
    if (counted[PENDING_IP] === undefined && counted._parent) counted = counted._parent;
    const ip = counted[PENDING_IP];
    if (ip === undefined) return;
    counted[PENDING_IP] = undefined;
    decrement(this.pendingPerIp, ip);
  }

  // 'close' listeners shared by every socket ('close' fires once; the socket
  // is `this`): no closure per connection, which adds up at 100,000 of them.
  private readonly onPendingClose = (() => {
    const release = (socket: Duplex) => this.releasePending(socket);
    return function (this: Duplex) {
      release(this);
    };
  })();

  private readonly onAdmittedClose = (() => {
    const leave = (ip: string) => {
      this.connections--;
      decrement(this.perIp, ip);
    };
    return function (this: CountedSocket) {
      leave(this[ADMITTED_IP]!);
    };
  })();
}

function decrement(counts: Map<string, number>, key: string): void {
  const left = (counts.get(key) ?? 1) - 1;
  if (left <= 0) counts.delete(key);
  else counts.set(key, left);
}
