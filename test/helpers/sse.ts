// An SSE client over Node's http module and the maintained parser of the
// format (eventsource-parser), for tests that must see every event, id,
// comment and refusal the server sends, as an EventSource would read them.
import http from 'node:http';
import { createParser, type EventSourceMessage } from 'eventsource-parser';

export interface SseEvent {
  event: string;
  data: string;
  id: string | undefined;
}

export interface SseRefusal {
  status: number;
  body: { error: { code: string; message: string } };
}

export class SseStream {
  readonly events: SseEvent[] = [];
  comments = 0;
  retry: number | null = null;
  /** The id an EventSource would send back as Last-Event-ID. */
  lastEventId = '';
  ended = false;
  private waiters: Array<() => void> = [];

  private constructor(
    readonly res: http.IncomingMessage,
    private readonly req: http.ClientRequest,
  ) {
    const parser = createParser({
      onEvent: (message: EventSourceMessage) => {
        if (message.id !== undefined) this.lastEventId = message.id;
        this.events.push({ event: message.event ?? 'message', data: message.data, id: message.id });
        this.wake();
      },
      onComment: () => {
        this.comments++;
        this.wake();
      },
      onRetry: (retry) => (this.retry = retry),
    });
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => parser.feed(chunk));
    res.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  /** Open a stream; a refusal resolves to its status and JSON body. */
  static open(url: string, headers: Record<string, string> = {}): Promise<SseStream | SseRefusal> {
    return new Promise((resolve, reject) => {
      const req = http.get(url, { headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
        if (res.statusCode === 200) {
          resolve(new SseStream(res, req));
          return;
        }
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      });
      req.on('error', reject);
    });
  }

  /** Open a stream that must be accepted. */
  static async accepted(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
    const stream = await SseStream.open(url, headers);
    if (!(stream instanceof SseStream)) throw new Error(`refused: ${stream.status} ${JSON.stringify(stream.body)}`);
    return stream;
  }

  /** Resolves once `condition` holds, checked after each event, comment and the end. */
  async until(condition: () => boolean): Promise<void> {
    while (!condition()) {
      if (this.ended) throw new Error(`stream ended; events: ${JSON.stringify(this.events.slice(-5))}`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** The events named `name`, their data parsed. */
  of(name: string): any[] {
    return this.events.filter((e) => e.event === name).map((e) => JSON.parse(e.data));
  }

  close(): void {
    this.req.destroy();
  }

  private wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }
}
