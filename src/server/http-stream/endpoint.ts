// HTTP streaming for the SDK (docs/protocol.md, "HTTP streaming"), beside the
// WebSocket path (`/stream` for `/ws`):
//
// - `GET /stream` opens a session, checked as a WebSocket handshake is, and
//   streams its frames, the first line giving the session's secret; the
//   session ends with its stream;
// - `POST /stream` with `X-Switchboard-Session` carries requests, one JSON
//   frame per line; replies come down the stream. A POST that reached another
//   node of the cluster is forwarded to the session's node (named in the
//   secret) through the broker: no session affinity is needed.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { jsonCodec } from '../../protocol/codec.js';
import { checkClient, checkOrigin, isRefusal, refusal, type Accepted, type Refusal } from '../handshake.js';
import { corsHeaders, type HttpTransportDeps } from '../http/response-transport.js';
import { streamPath } from '../http/stream-paths.js';
import { HttpStreamTransport } from './transport.js';

export const SESSION_HEADER = 'x-switchboard-session';

/** A POST forwarded to the session's node. */
interface Forwarded {
  kind: 'http-stream';
  session: string;
  frames: string[];
}

const STREAM_HEADERS = {
  'Content-Type': 'application/x-ndjson; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
};

export class HttpStreamEndpoint {
  readonly path: string;
  /** This node's sessions by secret. */
  private readonly sessions = new Map<string, HttpStreamTransport>();

  constructor(private readonly deps: HttpTransportDeps) {
    this.path = streamPath(deps.config.path);
    deps.core.mailbox.listen((message) => this.onForwarded(message as Forwarded));
  }

  handle(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const origin = req.headers.origin;
    if (origin !== undefined) {
      const refused = checkOrigin(origin, req, this.deps.policy);
      if (refused) return this.deps.refuse(req, res, refused);
    }
    const secret = req.headers[SESSION_HEADER];
    if (req.method === 'OPTIONS') return this.preflight(req, res);
    if (req.method === 'POST') {
      if (typeof secret !== 'string') return this.deps.refuse(req, res, refusal(400, 'bad_request', `a POST needs the ${SESSION_HEADER} header`));
      this.post(req, res, secret);
      return;
    }
    if (req.method !== 'GET') return this.deps.refuse(req, res, refusal(400, 'bad_request', 'GET opens a stream, POST sends requests'));
    if (secret !== undefined)
      return this.deps.refuse(req, res, refusal(400, 'bad_request', 'a session ends with its stream: open a new one without a session'));
    const checked = checkClient(req, url, this.deps.policy, jsonCodec, 'http-stream');
    const open = (result: Accepted | Refusal) => {
      if (res.destroyed) return;
      if (isRefusal(result)) this.deps.refuse(req, res, result);
      else this.open(req, res, result);
    };
    if (checked instanceof Promise) checked.then(open, () => this.deps.refuse(req, res, refusal(500, 'internal', 'internal error')));
    else open(checked);
  }

  private open(req: IncomingMessage, res: ServerResponse, accepted: Accepted): void {
    const { core, admission } = this.deps;
    const refused = admission.admit(accepted.ip, req.socket, res);
    if (refused) return this.deps.refuse(req, res, refused);
    const secret = `${core.operations.nodeId}.${randomBytes(24).toString('base64url')}`;
    const transport = new HttpStreamTransport(core, res, secret, { ...STREAM_HEADERS, ...corsHeaders(req) }, (ended) => this.sessions.delete(ended.secret));
    this.sessions.set(secret, transport);
    transport.session = core.open(transport, { ...accepted, transport: 'http-stream' });
  }

  private post(req: IncomingMessage, res: ServerResponse, secret: string): void {
    readBody(req, this.deps.config.limits.maxPayload).then(
      (body) => {
        const frames = body.split('\n').filter((line) => line.trim() !== '');
        const local = this.sessions.get(secret);
        if (local) {
          for (const frame of frames) this.deps.core.message(local.session, Buffer.from(frame), false);
          res.writeHead(204, corsHeaders(req)).end();
          return;
        }
        const node = /^([0-9a-f-]{36})\.[A-Za-z0-9_-]{32}$/.exec(secret)?.[1];
        if (node === undefined || node === this.deps.core.operations.nodeId) {
          return this.deps.refuse(req, res, refusal(404, 'not_found', 'no such session: open a new stream'));
        }
        const forwarded: Forwarded = { kind: 'http-stream', session: secret, frames };
        this.deps.core.mailbox.send(node, forwarded).then(
          () => res.writeHead(202, corsHeaders(req)).end(),
          () => this.deps.refuse(req, res, refusal(503, 'unavailable', 'the session’s node cannot be reached')),
        );
      },
      (error: unknown) => {
        // A client gone mid-body has no one to answer, and hit no bound.
        if (!(error instanceof BodyTooLarge)) return void res.destroy();
        this.deps.limitHits.hit('maxPayload');
        this.deps.refuse(req, res, refusal(413, 'payload_too_large', error.message));
      },
    );
  }

  private onForwarded(message: Forwarded): void {
    if (message?.kind !== 'http-stream' || !Array.isArray(message.frames)) return;
    const transport = this.sessions.get(message.session);
    if (!transport) return;
    for (const frame of message.frames) if (typeof frame === 'string') this.deps.core.message(transport.session, Buffer.from(frame), false);
  }

  private preflight(req: IncomingMessage, res: ServerResponse): void {
    res
      .writeHead(204, {
        ...corsHeaders(req),
        'Access-Control-Allow-Methods': 'GET, POST',
        'Access-Control-Allow-Headers': `Authorization, Content-Type, ${SESSION_HEADER}`,
        'Access-Control-Max-Age': '600',
      })
      .end();
  }
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      // Refused at once; the rest is read and dropped so that the answer can be read.
      req.off('data', onData);
      chunks.length = 0;
      req.resume();
      reject(new BodyTooLarge(`body over ${limit} bytes (limits.maxPayload)`));
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
