// permessage-deflate (`compression: true`) without a zlib context per idle
// connection (issue 19). ws keeps a connection's deflate and inflate streams
// for its whole life once it has compressed or inflated one message (about
// 256 KiB and 40 KiB of zlib state at the default window); with no context
// takeover it resets them after each message but does not free them. Here
// both sides are asked for no context takeover, so every message is
// compressed on its own, and a connection gives its streams up once a whole
// message is through: it holds zlib memory only while ws's zlib limiter runs
// one of its messages. Inflate streams are closed; deflate streams, reset by
// ws after each message and so as good as new for any connection, wait in a
// pool of at most `concurrencyLimit` per window size for the next message of
// any connection (making one per message took 3-4x the server's CPU time
// per compressed message).
// Measured by bench/compression-memory.mjs (docs/benchmarks.md).
import type { PerMessageDeflateOptions, WebSocket } from 'ws';

export const perMessageDeflate: PerMessageDeflateOptions = {
  serverNoContextTakeover: true,
  clientNoContextTakeover: true,
  // ws compresses only messages of at least this many bytes, once the server
  // has no context takeover (with it, ws compresses every message).
  threshold: 1024,
  concurrencyLimit: 10,
};

type Done = (error: Error | null, data?: Buffer) => void;
type Step = (data: Buffer | string, fin: boolean, done: Done) => void;
interface Stream {
  close(): void;
}

/** The internals of ws's PerMessageDeflate (lib/permessage-deflate.js) used here. */
interface Extension {
  params: { server_no_context_takeover?: boolean; server_max_window_bits?: number | boolean } | null;
  _deflate: Stream | null;
  _inflate: Stream | null;
  _compress: Step;
  _decompress: Step;
}

/** Deflate streams between messages, by window bits, shared by every connection of the process. */
const idle = new Map<number, Stream[]>();
const POOL_SIZE = perMessageDeflate.concurrencyLimit!;

function poolOf(ext: Extension): Stream[] {
  const bits = ext.params?.server_max_window_bits;
  const key = typeof bits === 'number' ? bits : 15; // ws's default, zlib.Z_DEFAULT_WINDOWBITS
  let pool = idle.get(key);
  if (!pool) idle.set(key, (pool = []));
  return pool;
}

/**
 * Give the connection's zlib streams up after each whole message. `_compress`
 * and `_decompress` run inside ws's zlib limiter, and their callback comes
 * before the limiter's next job, so no other message of this connection is
 * using the stream then; the next message takes one from the pool or ws
 * makes a fresh one. (A deflate stream carries nothing of its connection:
 * ws keeps only the output chunks on it, emptied after each message.)
 */
export function freeZlibBetweenMessages(socket: WebSocket): void {
  const extensions = (socket as unknown as { _extensions?: Record<string, Extension | undefined> })._extensions;
  const ext = extensions?.['permessage-deflate'];
  if (!ext?.params?.server_no_context_takeover || typeof ext._compress !== 'function' || typeof ext._decompress !== 'function') return;
  const compress = ext._compress;
  const decompress = ext._decompress;
  const pool = poolOf(ext);
  ext._compress = (data, fin, done) => {
    ext._deflate ??= pool.pop() ?? null;
    compress.call(ext, data, fin, (error, result) => {
      // ws has reset the stream (server_no_context_takeover) before this callback.
      const deflate = ext._deflate;
      if (fin && deflate) {
        ext._deflate = null;
        if (pool.length < POOL_SIZE) pool.push(deflate);
        else deflate.close();
      }
      done(error, result);
    });
  };
  ext._decompress = (data, fin, done) =>
    decompress.call(ext, data, fin, (error, result) => {
      if (fin && ext._inflate) {
        ext._inflate.close();
        ext._inflate = null;
      }
      done(error, result);
    });
}
