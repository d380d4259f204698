// user -> that user's sessions on this node, so that a command aimed at a user
// (disconnect, server-side subscribe) finds them without scanning every
// session. A session's user never changes: a refreshed token must keep `sub`.
import type { Session } from './session.js';

export class UserIndex {
  private readonly byUser = new Map<string, Set<Session>>();

  add(session: Session): void {
    const { user } = session;
    if (user === null) return;
    let sessions = this.byUser.get(user);
    if (!sessions) this.byUser.set(user, (sessions = new Set()));
    sessions.add(session);
  }

  remove(session: Session): void {
    const { user } = session;
    if (user === null) return;
    const sessions = this.byUser.get(user);
    if (!sessions?.delete(session)) return;
    if (sessions.size === 0) this.byUser.delete(user);
  }

  sessionsOf(user: string): Session[] {
    const sessions = this.byUser.get(user);
    return sessions ? [...sessions] : [];
  }
}
