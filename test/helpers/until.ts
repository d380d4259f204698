// Waiting without sleeping: a test calls wake() from the events it watches
// (a client's `connected`, a message...), and each until() looks at its
// condition again then, resolving once it holds.
export interface Waiters {
  /** Resolves once `check` returns true; rejects when it throws, or after `ms` naming `what`. */
  until: (check: () => boolean, what: string, ms?: number) => Promise<void>;
  /** Something happened: every pending until() looks again. */
  wake: () => void;
}

export function waiters(): Waiters {
  const pending = new Set<() => void>();
  return {
    until: (check, what, ms = 20_000) =>
      new Promise((resolve, reject) => {
        const look = () => {
          let done: boolean;
          try {
            done = check();
          } catch (error) {
            done = true;
            reject(error as Error);
          }
          if (!done) return;
          clearTimeout(timer);
          pending.delete(look);
          resolve();
        };
        const timer = setTimeout(() => {
          pending.delete(look);
          reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
        }, ms);
        pending.add(look);
        look();
      }),
    wake: () => pending.forEach((look) => look()),
  };
}
