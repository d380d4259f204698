// The HTTP-stream adapter between the core and the SDK's fallback transport
// (docs/protocol.md, "HTTP streaming"): frames go down one streamed response,
// one JSON frame per line; requests come up as POSTs (endpoint.ts). The
// session lives as long as its stream: a stream cut by a proxy may have
// swallowed lines the server believes sent, so the client opens a new session
// and recovers with `since`, as after a dropped WebSocket. The heartbeat is an
// empty line (response-transport.ts).
import type { ServerResponse } from 'node:http';
import type { Core, SharedFrame, Transport } from '../core/index.js';
import { ResponseTransport } from '../http/response-transport.js';

/** A shared frame's line, built once for every stream it goes to. */
const lines = new WeakMap<SharedFrame, Buffer>();
function lineOf(frame: SharedFrame): Buffer {
  let line = lines.get(frame);
  if (line === undefined) {
    line = Buffer.allocUnsafe(frame.data.byteLength + 1);
    line.set(frame.data, 0);
    line[frame.data.byteLength] = 0x0a;
    lines.set(frame, line);
  }
  return line;
}

export class HttpStreamTransport extends ResponseTransport implements Transport {
  constructor(
    core: Core,
    res: ServerResponse,
    /** The unguessable secret that finds this session: `<node id>.<random>`. */
    readonly secret: string,
    headers: Record<string, string>,
    /** The session is over: forget its secret. */
    onEnd: (transport: HttpStreamTransport) => void,
  ) {
    super(core, res);
    res.writeHead(200, headers);
    this.cork();
    res.write(`${JSON.stringify({ type: 'session', session: secret })}\n`);
    res.on('close', () => {
      onEnd(this);
      this.core.closed(this.session, this.closeCode ?? 1006, this.closeReason);
    });
  }

  send(data: string | Uint8Array, _binary: boolean): void {
    if (this.closeCode !== null) return;
    this.cork();
    this.res.write(typeof data === 'string' ? `${data}\n` : lineOf({ data, binary: false }));
  }

  sendShared(frame: SharedFrame): void {
    if (this.closeCode !== null) return;
    this.cork();
    this.res.write(lineOf(frame));
  }

  close(code: number, reason: string): void {
    if (this.closeCode !== null) return;
    this.closeCode = code;
    this.closeReason = reason;
    this.endWith(code, `${JSON.stringify({ type: 'close', code, reason })}\n`);
  }

  terminate(): void {
    this.closeCode ??= 1006;
    this.res.destroy();
  }

  ping(): void {
    this.heartbeat('\n');
  }
}
