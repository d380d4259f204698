// What an application's message handler received, and a way to wait, without
// sleeping, until it has received enough, or a given payload.
export interface Recorder {
  seen: unknown[];
  handler: (payload: unknown) => void;
  until: (count: number) => Promise<void>;
  /** Resolves once `payload` (compared with ===) has been received. */
  untilSeen: (payload: unknown) => Promise<void>;
}

export function recorder(): Recorder {
  const seen: unknown[] = [];
  let waiters: Array<{ done: () => boolean; wake: () => void }> = [];
  const wait = (done: () => boolean) =>
    new Promise<void>((resolve) => {
      if (done()) resolve();
      else waiters.push({ done, wake: resolve });
    });
  return {
    seen,
    handler: (payload) => {
      seen.push(payload);
      waiters = waiters.filter((waiter) => {
        if (!waiter.done()) return true;
        waiter.wake();
        return false;
      });
    },
    until: (count) => wait(() => seen.length >= count),
    untilSeen: (payload) => wait(() => seen.includes(payload)),
  };
}
