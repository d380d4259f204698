// What an application's message handler received, and a way to wait, without
// sleeping, until it has received enough.
export interface Recorder {
  seen: unknown[];
  handler: (payload: unknown) => void;
  until: (count: number) => Promise<void>;
}

export function recorder(): Recorder {
  const seen: unknown[] = [];
  let waiter: { count: number; wake: () => void } | null = null;
  return {
    seen,
    handler: (payload) => {
      seen.push(payload);
      if (waiter && seen.length >= waiter.count) waiter.wake();
    },
    until: (count) =>
      new Promise<void>((resolve) => {
        if (seen.length >= count) resolve();
        else waiter = { count, wake: resolve };
      }),
  };
}
