// A plain-HTTP request to the TLS port gets a readable 400 instead of a handshake that dies
// without a word (as Go's servers answer): every connection's first byte is looked at, and
// only a TLS handshake (record type 22) goes on to the TLS server.
import type net from "node:net";
import type https from "node:https";

const ANSWER =
  "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n" +
  "400 bad request: this port serves HTTPS only ([http] tls_cert_file is set); use https://\n";
const TLS_HANDSHAKE = 0x16;

export function answerPlainHttp(server: https.Server, firstByteTimeoutMs: number): void {
  const startTls = server.listeners("connection") as ((socket: net.Socket) => void)[];
  server.removeAllListeners("connection");
  server.on("connection", (socket: net.Socket) => {
    socket.setTimeout(firstByteTimeoutMs, () => socket.destroy());
    socket.once("data", (chunk: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(chunk);
      if (chunk[0] === TLS_HANDSHAKE) {
        for (const listener of startTls) listener.call(server, socket);
      } else {
        socket.end(ANSWER);
        socket.once("finish", () => socket.destroy());
      }
    });
    socket.on("error", () => socket.destroy());
  });
}
