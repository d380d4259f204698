// The few things the core needs of a connection, every one required. The `ws`
// adapter implements it (ws-transport.ts); nothing else in the core knows
// which library is used.

/**
 * One encoded frame that several connections receive (a publication's
 * `message`, a join or leave event). The transport may keep the frame's wire
 * form in `wire`, so that it is built once however many sockets it goes to.
 */
export interface SharedFrame {
  readonly data: Uint8Array;
  /** A binary frame (MessagePack) rather than a text frame (JSON). */
  readonly binary: boolean;
  wire?: Uint8Array;
}

export interface Transport {
  /** Send one frame; `binary` picks a binary or a text frame whatever the data's type. */
  send(data: string | Uint8Array, binary: boolean): void;
  /** Send a frame shared with other connections (a transport may keep its wire form on `frame.wire`). */
  sendShared(frame: SharedFrame): void;
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
  onDrain(listener: () => void): void;
  /** Stop reading frames from the peer (backpressure on requests), and start again. */
  pause(): void;
  resume(): void;
}
