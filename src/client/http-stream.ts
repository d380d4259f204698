// The HTTP-stream transport (docs/protocol.md, "HTTP streaming") dressed as a
// WebSocket, so that the client uses it as it uses one: frames arrive one per
// line of a streamed GET, and what the client sends in one turn leaves as one
// POST carrying the session's secret, one POST at a time so requests keep
// their order. The token rides in an Authorization header, never in the URL.
// Browser-safe: fetch and TextDecoder only.
import type { WebSocketLike } from './client.js';

/** The stream's URL for a WebSocket URL: `ws://h/rt/ws` gives `http://h/rt/stream`. */
export function streamUrl(url: string): string {
  const target = new URL(url);
  target.protocol = target.protocol === 'wss:' ? 'https:' : 'http:';
  target.pathname = target.pathname.replace(/[^/]*$/, 'stream');
  target.search = '';
  return target.href;
}

export class HttpStreamSocket implements WebSocketLike {
  readyState = 0;
  binaryType = 'arraybuffer';
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  private readonly headers: Record<string, string>;
  private readonly abort = new AbortController();
  private secret: string | null = null;
  private queue: string[] = [];
  private posting = false;
  private code = 1006;
  private reason = 'stream ended';

  constructor(
    private readonly url: string,
    token: string | null,
    /** Node's `headers` option (a browser sends its cookies by itself). */
    extra: Record<string, string> = {},
  ) {
    this.headers = { ...extra };
    if (token) this.headers.Authorization = `Bearer ${token}`;
    void this.read();
  }

  send(data: string | Uint8Array): void {
    this.queue.push(typeof data === 'string' ? data : new TextDecoder().decode(data));
    // Everything sent in this turn leaves in one POST.
    if (this.queue.length === 1) void Promise.resolve().then(() => this.post());
  }

  close(code = 1000, reason = ''): void {
    this.end(code, reason);
  }

  private async read(): Promise<void> {
    try {
      const res = await fetch(this.url, { headers: this.headers, credentials: 'include', cache: 'no-store', signal: this.abort.signal });
      if (!res.ok || !res.body) {
        this.reason = `HTTP ${res.status}`;
      } else {
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let text = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          text += decoder.decode(value, { stream: true });
          let newline: number;
          while ((newline = text.indexOf('\n')) !== -1) {
            const line = text.slice(0, newline);
            text = text.slice(newline + 1);
            // An empty line is the server's heartbeat: only the transport needs it.
            if (line !== '') this.line(line);
          }
        }
      }
    } catch {
      // Aborted, or the network failed: the stream is over either way.
    }
    this.end(this.code, this.reason);
  }

  private line(line: string): void {
    if (this.secret === null) {
      this.secret = (JSON.parse(line) as { session: string }).session;
      this.readyState = 1;
      void this.post();
    } else if (line.startsWith('{"type":"close"')) {
      ({ code: this.code, reason: this.reason } = JSON.parse(line) as { code: number; reason: string });
    } else {
      this.onmessage?.({ data: line });
    }
  }

  private async post(): Promise<void> {
    if (this.posting || this.secret === null || this.queue.length === 0 || this.readyState !== 1) return;
    this.posting = true;
    const body = this.queue.join('\n');
    this.queue = [];
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: { 'Content-Type': 'text/plain', 'X-Switchboard-Session': this.secret },
        body,
        credentials: 'include',
        signal: this.abort.signal,
      });
      // The session is gone (its stream ended): so is this connection.
      if (!res.ok) this.end(1006, `HTTP ${res.status} to a POST`);
    } catch {
      this.end(1006, 'a POST failed');
    }
    this.posting = false;
    void this.post();
  }

  private end(code: number, reason: string): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.abort.abort();
    this.onclose?.({ code, reason });
  }
}
