// The four things the core needs of a connection. The `ws` adapter implements
// it (ws-transport.ts); nothing else in the core knows which library is used.
export interface Transport {
  send(data: string | Uint8Array): void;
  /** Bytes queued but not yet written to the socket. */
  readonly bufferedAmount: number;
  /** Start a closing handshake. */
  close(code: number, reason: string): void;
  /** Drop the connection without a closing handshake. */
  terminate(): void;
  /** Send a protocol-level ping. */
  ping(): void;
}
