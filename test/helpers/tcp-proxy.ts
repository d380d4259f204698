// A TCP proxy between a client and a server, to break connections the way
// networks do: cut them without a close frame, or let them go silent.
import net from 'node:net';
import type { AddressInfo } from 'node:net';

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
}

export class TcpProxy {
  private readonly pairs = new Set<Pair>();
  /** Silenced pairs, kept to be destroyed on close. */
  private readonly silenced = new Set<Pair>();
  /** How many connections have been made through the proxy. */
  connections = 0;
  /** Where new connections go: change it to send clients to another server, as a load balancer would after a failure. */
  target = 0;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    const server = net.createServer((client) => {
      const upstream = net.connect(proxy.target, '127.0.0.1');
      const pair = { client, upstream };
      proxy.pairs.add(pair);
      proxy.connections++;
      client.pipe(upstream);
      upstream.pipe(client);
      const end = () => {
        proxy.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      for (const socket of [client, upstream]) {
        socket.on('error', end);
        socket.on('close', end);
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new TcpProxy(server, (server.address() as AddressInfo).port);
    proxy.target = targetPort;
    return proxy;
  }

  /** Reset every open connection: no close frame, no FIN, as when a link dies. */
  cut(): void {
    for (const { client, upstream } of this.pairs) {
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    }
    this.pairs.clear();
  }

  /**
   * On every open connection, keep forwarding what the client sends but drop
   * what the server answers: requests arrive and are acted on, replies are lost.
   */
  dropReplies(): void {
    for (const pair of this.pairs) {
      pair.upstream.unpipe(pair.client);
      pair.upstream.resume();
    }
  }

  /** Stop forwarding on every open connection while keeping it open: a silent, dead peer. */
  silence(): void {
    for (const pair of this.pairs) {
      pair.client.unpipe(pair.upstream);
      pair.upstream.unpipe(pair.client);
      pair.client.pause();
      pair.upstream.pause();
      this.silenced.add(pair);
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    this.cut();
    for (const { client, upstream } of this.silenced) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise((resolve) => this.server.close(resolve));
  }
}
