// Where the two HTTP transports answer, beside the WebSocket path: known
// before their modules are loaded, at their first request (server.ts).

/** The WebSocket path with its last segment replaced by `sse`: `/ws` -> `/sse`, `/rt/ws` -> `/rt/sse`. */
export function ssePath(path: string): string {
  return path.replace(/[^/]*$/, 'sse');
}

/** The WebSocket path with its last segment replaced by `stream`. */
export function streamPath(path: string): string {
  return path.replace(/[^/]*$/, 'stream');
}
