// Raw TCP clients for the findings that are about connections, not requests: readers that never
// read (4), bodies that stop arriving (5), headers that trickle in (12). Each connection notes
// when the agent closed it and the start of what it answered.
import net from 'node:net';
import { readFileSync } from 'node:fs';

export interface Conn {
  socket: net.Socket;
  localPort: number;
  openedAt: number;
  /** performance.now() when the connection closed (or was found closed by the agent). */
  closedAt?: number;
  /** The first bytes the agent sent (its status line), when this connection reads. */
  answer: string;
}

/**
 * Opens a connection to 127.0.0.1:`port`. `read: false` leaves it paused: nothing is read, so the
 * agent's writes fill the socket buffers and then wait, as for a client that stopped reading.
 */
export function connect(port: number, o: { read: boolean; localAddress?: string }): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: o.localAddress });
    const conn: Conn = { socket, localPort: 0, openedAt: performance.now(), answer: '' };
    socket.once('error', (e) => {
      if (!conn.localPort) reject(e);
    });
    socket.on('error', () => {}); // a reset after connecting only ends the connection
    socket.on('close', () => (conn.closedAt ??= performance.now()));
    socket.once('connect', () => {
      conn.localPort = socket.localPort ?? 0;
      if (o.read) {
        socket.on('data', (d: Buffer) => {
          if (conn.answer.length < 200) conn.answer += d.toString('latin1').slice(0, 200 - conn.answer.length);
        });
      } else {
        socket.pause();
      }
      resolve(conn);
    });
  });
}

/** Writes and resolves once the data was handed to the kernel (or the socket is gone). */
export function write(conn: Conn, data: Buffer | string): Promise<void> {
  return new Promise((resolve) => {
    if (conn.socket.destroyed) return resolve();
    conn.socket.write(data, () => resolve());
  });
}

const TCP_ESTABLISHED = '01';

/**
 * Marks as closed the connections whose agent side is no longer ESTABLISHED in the kernel's
 * table. A paused socket never sees the agent give up on it: when the agent closes a socket it
 * still has unsent data for, the kernel keeps that data and sends the FIN after it, which a
 * client that never reads never gets. The agent's side of the connection shows the close at once
 * (FIN_WAIT1, orphaned) or is gone (reset).
 */
export function noteClosedByPeer(conns: readonly Conn[], agentPort: number): void {
  const agentSide = new Map<number, string>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    const local = Number.parseInt(f[1].split(':')[1], 16);
    const remote = Number.parseInt(f[2].split(':')[1], 16);
    if (local === agentPort) agentSide.set(remote, f[3]);
  }
  const now = performance.now();
  for (const c of conns) if (c.closedAt === undefined && agentSide.get(c.localPort) !== TCP_ESTABLISHED) c.closedAt = now;
}
