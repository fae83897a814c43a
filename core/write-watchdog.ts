// Cuts off clients that stop reading their answers (the write_timeout option). A connection
// with bytes waiting to be sent that goes the whole timeout without any of them leaving is
// destroyed, which frees what it held: the answer's buffers and the socket.
//
// Only a stall counts, not the time an answer takes: a download that keeps moving, however
// slowly, is never cut, and neither is a request the server is still working on (nothing is
// waiting to be sent then). Node's own socket timeout cannot tell these apart: it counts any
// idle time, and over TLS it does not see a large write moving at all.
import type net from "node:net";

interface Watched {
  /** Bytes whose writes have completed. */
  done: number;
  /** Bytes libuv still has to hand to the kernel (moves during one large write). */
  queued: number;
  /** When bytes were last seen leaving, or nothing was waiting. */
  since: number;
}

/** The socket that talks to the kernel: under TLS, the TCP socket the TLS socket wraps. */
export function transport(socket: net.Socket): net.Socket {
  return (socket as net.Socket & { _parent?: net.Socket | null })._parent ?? socket;
}

function queuedBytes(socket: net.Socket): number {
  const handle = (transport(socket) as net.Socket & { _handle?: { writeQueueSize?: number } | null })._handle;
  return handle?.writeQueueSize ?? 0;
}

export class WriteWatchdog {
  private readonly sockets = new Map<net.Socket, Watched>();
  private timer: NodeJS.Timeout | undefined;
  /** How often sockets are looked at: a stall is cut between timeoutMs and timeoutMs + this. */
  readonly every: number;

  constructor(
    readonly timeoutMs: number,
    private readonly onCut: (socket: net.Socket, waiting: number) => void,
  ) {
    this.every = Math.min(1000, Math.max(50, Math.floor(timeoutMs / 4)));
  }

  /** Watches a connection until it closes. */
  watch(socket: net.Socket): void {
    this.sockets.set(socket, { done: 0, queued: 0, since: performance.now() });
    socket.once("close", () => this.sockets.delete(socket));
    this.timer ??= setInterval(() => this.check(), this.every).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  get watched(): number {
    return this.sockets.size;
  }

  private check(): void {
    const now = performance.now();
    for (const [socket, w] of this.sockets) {
      const waiting = socket.writableLength;
      const queued = queuedBytes(socket);
      const done = (socket.bytesWritten ?? 0) - waiting;
      const moved = done > w.done || queued < w.queued;
      w.done = done;
      w.queued = queued;
      if ((waiting === 0 && queued === 0) || moved) {
        w.since = now;
      } else if (now - w.since >= this.timeoutMs) {
        this.sockets.delete(socket);
        this.onCut(socket, Math.max(waiting, queued));
        socket.destroy();
      }
    }
  }
}
