// The few things the core needs of a connection. The `ws` adapter implements
// it (ws-transport.ts); nothing else in the core knows which library is used.
export interface Transport {
  /** Send one frame; `binary` picks a binary or a text frame whatever the data's type. */
  send(data: string | Uint8Array, binary: boolean): void;
  /** Bytes queued but not yet written to the socket. */
  readonly bufferedAmount: number;
  /** Start a closing handshake. */
  close(code: number, reason: string): void;
  /** Drop the connection without a closing handshake. */
  terminate(): void;
  /** Send a protocol-level ping. */
  ping(): void;
  /**
   * Call `listener` once, the next time the socket has written out its queue
   * after `bufferedAmount` grew past what it could take at once.
   */
  onDrain?(listener: () => void): void;
  /** Stop reading frames from the peer (backpressure on requests), and start again. */
  pause?(): void;
  resume?(): void;
}
