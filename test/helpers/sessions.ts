// The one place a test looks past the core's door: the state of a live
// session object while it closes (its close code, the bytes it holds, the
// requests it is answering), which tests of bounds and drains must watch from
// inside. Everything else a test needs goes through `server.operations`.
import type { SwitchboardServer } from '../../src/server/index.js';

/** What the tests read of a session; the core's Session has these members. */
export interface SessionView {
  readonly id: string;
  readonly closed: boolean;
  readonly closeCode: number | null;
  readonly closeReason: string | null;
  readonly inflight: number;
  /** The socket's queue and the 'latest' publications held, together. */
  readonly bufferedAmount: number;
  readonly heldBytes: number;
  readonly subscriptions: ReadonlyMap<string, { held?: { offset?: number } | null }>;
  /** Tests of the transport drive a session's own sends and closes. */
  send(frame: unknown): void;
  close(code: number, reason: string): void;
  terminate(reason: string): void;
  ping(now: number): void;
}

/** The server's live sessions, in the order they connected. */
export function sessionsOf(server: SwitchboardServer): SessionView[] {
  const core = (server as unknown as { core: { sessions: Map<string, SessionView> } }).core;
  return [...core.sessions.values()];
}

/** One live session by client id. */
export function sessionOf(server: SwitchboardServer, client: string): SessionView {
  const session = sessionsOf(server).find((s) => s.id === client);
  if (!session) throw new Error(`no live session ${client}`);
  return session;
}

/** Times a bound was hit (switchboard_limit_hits_total), read from the server's registry without a connection. */
export async function limitHits(server: SwitchboardServer, limit: string): Promise<number> {
  const metric = (await server.metricsSnapshot()).find((m) => m.name === 'switchboard_limit_hits_total');
  return metric?.values.find((v) => v.labels.limit === limit)?.value ?? 0;
}
