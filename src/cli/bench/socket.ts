// The bench's own WebSocket client (RFC 6455, client side only): a plain TCP
// socket, the upgrade request, and a frame reader that hands each text frame
// to the caller as a byte range of the chunk it arrived in. No per-frame
// objects, events or copies, so that counting deliveries costs the generator
// less than sending them costs the server. Not a general client: no
// extensions, no fragmented messages (Switchboard sends none).
import { randomBytes } from 'node:crypto';
import { connect as tcpConnect, type Socket } from 'node:net';

export interface LeanHandlers {
  /** A text frame: bytes [start, end) of buf, valid only during the call. */
  text(buf: Buffer, start: number, end: number): void;
  /** The handshake was refused or the socket failed before it: a short reason such as "429 too_many_connections" or "ECONNRESET". */
  failed(reason: string): void;
  /** The connection ended after the handshake; 1006 when no close frame came. */
  closed(code: number): void;
}

const HEADER_END = Buffer.from('\r\n\r\n');
/**
 * One read buffer for every socket of the process: with `onread`, Node reads
 * into it and calls us directly, without allocating a Buffer or emitting a
 * stream event per read. Safe because a chunk is consumed before the call
 * returns; incomplete frames are copied out.
 */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

export class LeanSocket {
  private readonly socket: Socket;
  private pending: Buffer | null = null;
  private upgraded = false;
  private done = false;
  private closeCode = 1006;

  constructor(
    url: URL,
    headers: Record<string, string>,
    localAddress: string | undefined,
    private readonly on: LeanHandlers,
  ) {
    const port = Number(url.port || 80);
    this.socket = tcpConnect({
      host: url.hostname,
      port,
      ...(localAddress ? { localAddress } : {}),
      onread: {
        buffer: READ_BUFFER,
        callback: (length) => {
          const chunk = READ_BUFFER.subarray(0, length);
          if (this.upgraded) this.frames(chunk);
          else this.handshake(chunk);
          return true;
        },
      },
    });
    this.socket.setNoDelay(true);
    const lines = [
      `GET ${url.pathname}${url.search} HTTP/1.1`,
      `Host: ${url.host}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Protocol: switchboard.v1.json',
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    this.socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    this.socket.on('error', (error: NodeJS.ErrnoException) => this.finish(error.code ?? error.message));
    this.socket.on('close', () => this.finish('closed before the handshake was answered'));
  }

  /** Send a text frame. The mask key is zero: allowed by the RFC's framing, and it spares an XOR pass we do not need. */
  send(text: string): void {
    const payload = Buffer.from(text);
    const n = payload.length;
    const head = n < 126 ? Buffer.from([0x81, 0x80 | n, 0, 0, 0, 0]) : Buffer.from([0x81, 0x80 | 126, n >> 8, n & 0xff, 0, 0, 0, 0]);
    if (n >= 65536) throw new Error('bench frames stay under 64 KiB');
    this.socket.write(Buffer.concat([head, payload]));
  }

  close(code = 1000): void {
    if (this.done || !this.upgraded) return this.terminate();
    this.socket.write(Buffer.from([0x88, 0x82, 0, 0, 0, 0, code >> 8, code & 0xff]));
  }

  terminate(): void {
    this.socket.destroy();
  }

  private handshake(chunk: Buffer): void {
    const data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    const end = data.indexOf(HEADER_END);
    if (end < 0) {
      this.pending = Buffer.from(data); // data may be the shared read buffer
      return;
    }
    this.pending = null;
    const head = data.subarray(0, end).toString('latin1');
    const status = Number(head.slice(9, 12));
    if (status !== 101) {
      // Refusals carry a small JSON body naming the code; read what has arrived.
      const code = /"code":"([^"]+)"/.exec(data.subarray(end).toString())?.[1];
      this.finish(`${status}${code ? ` ${code}` : ''}`);
      this.socket.destroy();
      return;
    }
    this.upgraded = true;
    if (data.length > end + 4) this.frames(data.subarray(end + 4));
  }

  private frames(chunk: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    let at = 0;
    while (buf.length - at >= 2) {
      const opcode = buf[at]! & 0x0f;
      let length = buf[at + 1]! & 0x7f;
      let start = at + 2;
      if (length === 126) {
        if (buf.length - at < 4) break;
        length = buf.readUInt16BE(at + 2);
        start = at + 4;
      } else if (length === 127) {
        if (buf.length - at < 10) break;
        length = buf.readUInt32BE(at + 6) + buf.readUInt32BE(at + 2) * 2 ** 32;
        start = at + 10;
      }
      const end = start + length;
      if (end > buf.length) break;
      if (opcode === 1 || opcode === 0) this.on.text(buf, start, end);
      else if (opcode === 8) {
        this.closeCode = length >= 2 ? buf.readUInt16BE(start) : 1005;
        this.socket.end(Buffer.from([0x88, 0x82, 0, 0, 0, 0, this.closeCode >> 8, this.closeCode & 0xff]));
      } else if (opcode === 9) {
        // Answer a ping with the same payload (masked with a zero key, like send).
        this.socket.write(Buffer.concat([Buffer.from([0x8a, 0x80 | length, 0, 0, 0, 0]), buf.subarray(start, end)]));
      }
      at = end;
    }
    // Keep an incomplete frame; copy it so the chunk it came in can be freed.
    if (at < buf.length) this.pending = Buffer.from(buf.subarray(at));
  }

  private finish(reason: string): void {
    if (this.done) return;
    this.done = true;
    if (this.upgraded) this.on.closed(this.closeCode);
    else this.on.failed(reason);
  }
}
