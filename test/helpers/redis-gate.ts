// A TCP proxy in front of Redis that tells connections apart by the name the
// client gives itself (ioredis sends CLIENT SETNAME first on every connect),
// so a test can cut one of a broker's two connections and keep it out.
import net from 'node:net';
import type { AddressInfo } from 'node:net';

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  /** The first bytes the client sent, where its name is. */
  head: string;
}

export class RedisGate {
  private readonly pairs = new Set<Pair>();
  private readonly refused = new Set<string>();

  private constructor(
    private readonly server: net.Server,
    readonly url: string,
  ) {}

  static async start(redisPort: number): Promise<RedisGate> {
    const server = net.createServer((client) => {
      const upstream = net.connect(redisPort, '127.0.0.1');
      const pair: Pair = { client, upstream, head: '' };
      gate.pairs.add(pair);
      const end = () => {
        gate.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('data', (chunk: Buffer) => {
        if (pair.head.length < 4_096) pair.head += chunk.toString('latin1');
        // Dropped before a byte of it reaches Redis.
        if (gate.isRefused(pair)) end();
        else upstream.write(chunk);
      });
      upstream.pipe(client);
      for (const socket of [client, upstream]) {
        socket.on('error', end);
        socket.on('close', end);
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const gate = new RedisGate(server, `redis://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return gate;
  }

  /** Cut the open connections named `name`; they reconnect. */
  cut(name: string): void {
    for (const pair of this.pairs) {
      if (!pair.head.includes(name)) continue;
      pair.client.destroy();
      pair.upstream.destroy();
    }
  }

  /** Cut the connections named `name` and keep cutting them until allow(). */
  refuse(name: string): void {
    this.refused.add(name);
    this.cut(name);
  }

  allow(name: string): void {
    this.refused.delete(name);
  }

  async close(): Promise<void> {
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    await new Promise((resolve) => this.server.close(resolve));
  }

  private isRefused(pair: Pair): boolean {
    for (const name of this.refused) if (pair.head.includes(name)) return true;
    return false;
  }
}
