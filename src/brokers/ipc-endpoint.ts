// One end of a message channel between a worker process and the primary that
// hosts the broker (docs/scaling.md, "Workers"). Messages are structured
// clones: a cluster worker's IPC channel with `serialization: 'advanced'`, or a
// worker_threads MessagePort, which the conformance suite uses to run many
// nodes in one process.
import type { Worker as ClusterWorker } from 'node:cluster';
import type { MessagePort } from 'node:worker_threads';

export interface IpcEndpoint {
  send(message: IpcMessage): void;
  /** Every Switchboard message that arrives; others on the same channel (cluster's, prom-client's) are not passed on. */
  onMessage(listener: (message: IpcMessage) => void): void;
  /** The other end is gone (process exited, channel closed). Called at most once. */
  onClose(listener: () => void): void;
  /** Close the channel; the other end sees onClose. */
  close(): void;
}

/** Every Switchboard message carries `sb`, its kind, so it can share a channel with other users. */
export type IpcMessage = { sb: string; [field: string]: unknown };

function isOurs(message: unknown): message is IpcMessage {
  return typeof message === 'object' && message !== null && typeof (message as { sb?: unknown }).sb === 'string';
}

/** A MessagePort (worker_threads): the conformance suite's channel. */
export function portEndpoint(port: MessagePort): IpcEndpoint {
  let closed = false;
  const closeListeners: Array<() => void> = [];
  port.on('close', () => {
    if (closed) return;
    closed = true;
    for (const listener of closeListeners) listener();
  });
  return {
    send: (message) => {
      if (!closed) port.postMessage(message);
    },
    onMessage: (listener) => {
      port.on('message', (message: unknown) => {
        if (isOurs(message)) listener(message);
      });
    },
    onClose: (listener) => closeListeners.push(listener),
    close: () => port.close(),
  };
}

/** This process's channel to the cluster primary (in a worker). */
export function parentEndpoint(proc: NodeJS.Process = process): IpcEndpoint {
  return {
    send: (message) => {
      // A send after the primary went away is dropped: disconnect is reported separately.
      if (proc.connected) proc.send!(message, undefined, undefined, () => {});
    },
    onMessage: (listener) => {
      proc.on('message', (message: unknown) => {
        if (isOurs(message)) listener(message);
      });
    },
    onClose: (listener) => proc.once('disconnect', listener),
    close: () => proc.disconnect?.(),
  };
}

/** The primary's channel to one cluster worker. */
export function workerEndpoint(worker: ClusterWorker): IpcEndpoint {
  let closed = false;
  const closeListeners: Array<() => void> = [];
  const gone = () => {
    if (closed) return;
    closed = true;
    for (const listener of closeListeners) listener();
  };
  worker.once('exit', gone);
  worker.once('disconnect', gone);
  return {
    send: (message) => {
      if (!closed && worker.isConnected()) worker.send(message, undefined, () => {});
    },
    onMessage: (listener) => {
      worker.on('message', (message: unknown) => {
        if (isOurs(message)) listener(message);
      });
    },
    onClose: (listener) => closeListeners.push(listener),
    close: () => worker.disconnect(),
  };
}
