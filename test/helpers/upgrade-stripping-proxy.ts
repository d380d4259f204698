// An HTTP reverse proxy that passes plain requests (streamed both ways) and,
// while `upgrades` is false, refuses WebSocket upgrades as a proxy that strips
// `Upgrade` does (the server never sees one: the client's WebSocket fails).
// `cut()` drops every connection through it, as a network failure would.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

export class UpgradeStrippingProxy {
  /** Let WebSocket upgrades through. */
  upgrades = false;
  private readonly sockets = new Set<Duplex>();

  private constructor(
    private readonly server: http.Server,
    readonly port: number,
  ) {}

  static async start(target: number): Promise<UpgradeStrippingProxy> {
    const server = http.createServer((req, res) => {
      const upstream = http.request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      res.on('close', () => upstream.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new UpgradeStrippingProxy(server, (server.address() as AddressInfo).port);
    server.on('connection', (socket) => {
      proxy.sockets.add(socket);
      socket.on('close', () => proxy.sockets.delete(socket));
    });
    server.on('upgrade', (req, socket, head) => {
      if (!proxy.upgrades) {
        socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      }
      const upstream = net.connect(target, '127.0.0.1', () => {
        const lines = [`${req.method} ${req.url} HTTP/1.1`, ...Object.entries(req.headers).map(([k, v]) => `${k}: ${String(v)}`)];
        upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
        upstream.write(head);
        upstream.pipe(socket);
        socket.pipe(upstream);
      });
      proxy.sockets.add(upstream);
      upstream.on('close', () => (proxy.sockets.delete(upstream), socket.destroy()));
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
      socket.on('close', () => upstream.destroy());
    });
    return proxy;
  }

  cut(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
