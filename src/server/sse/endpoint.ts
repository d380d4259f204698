// `GET /sse?channel=a&channel=b`: an SSE stream for a plain EventSource
// (docs/protocol.md, "SSE for a plain EventSource"), beside the WebSocket path
// and checked as its handshake is (admission, origin, authenticate hooks,
// token). Every refusal, a refused channel's included, is an HTTP status with
// the JSON error body, before the stream starts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { jsonCodec } from '../../protocol/codec.js';
import type { ErrorCode } from '../../protocol/codes.js';
import { checkClient, isRefusal, refusal, type Accepted, type Refusal } from '../handshake.js';
import { statusOf } from '../http/respond.js';
import { corsHeaders, type HttpTransportDeps } from '../http/response-transport.js';
import { ssePath } from '../http/stream-paths.js';
import { channelListHash, decodeCursor } from './cursor.js';
import { SseTransport } from './transport.js';

/** What starts a stream: no buffering on the way (nginx), no transform, no cache. */
function streamHeaders(req: IncomingMessage): Record<string, string> {
  return { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache, no-transform', 'X-Accel-Buffering': 'no', ...corsHeaders(req) };
}

export class SseEndpoint {
  readonly path: string;

  constructor(private readonly deps: HttpTransportDeps) {
    this.path = ssePath(deps.config.path);
  }

  handle(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const { refuse } = this.deps;
    const bad = this.checkRequest(req, url);
    if ('status' in bad) {
      refuse(req, res, bad);
      return;
    }
    const checked = checkClient(req, url, this.deps.policy, jsonCodec, 'sse');
    const open = (result: Accepted | Refusal) => {
      if (res.destroyed) return;
      if (isRefusal(result)) refuse(req, res, result);
      else this.open(req, res, result, bad);
    };
    if (checked instanceof Promise) checked.then(open, () => refuse(req, res, refusal(500, 'internal', 'internal error')));
    else open(checked);
  }

  /** The channels and the cursor, or the 400 that names what is wrong. */
  private checkRequest(req: IncomingMessage, url: URL): Refusal | { channels: string[]; cursor: string | null } {
    if (req.method !== 'GET') return refusal(400, 'bad_request', 'an SSE stream is opened with GET');
    const channels = url.searchParams.getAll('channel');
    const max = this.deps.config.limits.sseChannels;
    if (channels.length === 0) return refusal(400, 'bad_request', 'name at least one channel: ?channel=a&channel=b');
    if (channels.length > max) {
      this.deps.limitHits.hit('sseChannels');
      return refusal(400, 'bad_request', `at most ${max} channels per stream (limits.sseChannels)`);
    }
    const twice = channels.find((channel, i) => channels.indexOf(channel) !== i);
    if (twice !== undefined) return refusal(400, 'bad_request', `channel ${twice} is named twice`);
    const header = req.headers['last-event-id'];
    const cursor = (typeof header === 'string' && header !== '' ? header : null) ?? url.searchParams.get('lastEventId');
    if (cursor !== null && decodeCursor(cursor, channels) === null) {
      return refusal(400, 'bad_request', 'bad cursor: Last-Event-ID (or lastEventId) is not an event id of a stream of these channels');
    }
    return { channels, cursor };
  }

  private open(req: IncomingMessage, res: ServerResponse, accepted: Accepted, { channels, cursor }: { channels: string[]; cursor: string | null }): void {
    const { core, admission, refuse } = this.deps;
    const refused = admission.admit(accepted.ip, req.socket, res);
    if (refused) {
      refuse(req, res, refused);
      return;
    }
    const since = cursor === null ? null : decodeCursor(cursor, channels);
    const transport = new SseTransport(
      core,
      res,
      channels,
      since,
      channelListHash(channels),
      (outcome) => {
        if (outcome.ok) transport.start();
        else refuse(req, res, refusal(statusOf(outcome.code as ErrorCode) ?? 500, outcome.code as ErrorCode, outcome.message));
      },
      streamHeaders(req),
    );
    transport.session = core.open(transport, { ...accepted, transport: 'sse' });
    for (const request of transport.requests()) core.message(transport.session, Buffer.from(request), false);
  }
}
