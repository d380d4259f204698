// One end of a message channel between a worker process and the primary that
// hosts the broker (docs/scaling.md, "Workers"). Messages are structured
// clones: a cluster worker's IPC channel with `serialization: 'advanced'`, or a
// worker_threads MessagePort, which the conformance suite uses to run many
// nodes in one process.
import type { ChildProcess } from 'node:child_process';
import type { MessagePort } from 'node:worker_threads';

export interface IpcEndpoint {
  /** False when the message had to wait behind a backlog (the other end is not keeping up); it is still sent. */
  send(message: IpcMessage): boolean;
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

/** The close listeners of an endpoint, told once however many ways the channel reports its end. */
function closeSignal() {
  const listeners: Array<() => void> = [];
  const signal = {
    closed: false,
    listen: (listener: () => void) => void listeners.push(listener),
    fire: () => {
      if (signal.closed) return;
      signal.closed = true;
      for (const listener of listeners) listener();
    },
  };
  return signal;
}

/** A MessagePort (worker_threads): the conformance suite's channel. */
export function portEndpoint(port: MessagePort): IpcEndpoint {
  const end = closeSignal();
  port.on('close', end.fire);
  return {
    send: (message) => {
      if (!end.closed) port.postMessage(message);
      return true;
    },
    onMessage: (listener) => {
      port.on('message', (message: unknown) => {
        if (isOurs(message)) listener(message);
      });
    },
    onClose: end.listen,
    close: () => port.close(),
  };
}

/** This process's channel to the cluster primary (in a worker). */
export function parentEndpoint(proc: NodeJS.Process = process): IpcEndpoint {
  return {
    // A send after the primary went away is dropped: disconnect is reported separately.
    send: (message) => (proc.connected ? proc.send!(message, undefined, undefined, () => {}) : true),
    onMessage: (listener) => {
      proc.on('message', (message: unknown) => {
        if (isOurs(message)) listener(message);
      });
    },
    onClose: (listener) => proc.once('disconnect', listener),
    close: () => proc.disconnect?.(),
  };
}

/**
 * The primary's channel to one worker process (a cluster worker's `process`,
 * or any child forked with an IPC channel). `send` answers false while the
 * channel is backed up: the worker is not reading as fast as it is sent to.
 */
export function childEndpoint(child: ChildProcess): IpcEndpoint {
  const end = closeSignal();
  child.once('exit', end.fire);
  child.once('disconnect', end.fire);
  return {
    send: (message) => (!end.closed && child.connected ? child.send(message, undefined, undefined, () => {}) : true),
    onMessage: (listener) => {
      child.on('message', (message: unknown) => {
        if (isOurs(message)) listener(message);
      });
    },
    onClose: end.listen,
    close: () => child.disconnect(),
  };
}
