// A pass-through HTTP recorder for the client tests: the real client libraries push to it, it
// forwards every request unchanged (method, path, headers, body bytes) to the agent and the
// agent's answer unchanged back, and it records both sides. The tests read the record to assert
// the exact status of every push and what each client puts on the wire (method, path,
// Content-Type, Content-Encoding, chunked or not), which are facts the agent is built around.
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface Exchange {
  method: string;
  /** The request target exactly as the client sent it (still percent-encoded). */
  path: string;
  /** Request headers, lower-case names, as received. */
  headers: http.IncomingHttpHeaders;
  /** The request body as sent (still compressed, if the client compressed it). */
  body: Buffer;
  status: number;
  /** The agent's response body. */
  response: string;
  /** Date.now() when the request arrived and when its answer was complete. */
  start: number;
  end: number;
}

export interface Recorder {
  /** Base URL the clients push to. */
  url: string;
  /** Every exchange so far, in arrival order. */
  exchanges: Exchange[];
  /** Returns the exchanges since the previous call. */
  take(): Exchange[];
  close(): Promise<void>;
}

/** Headers that belong to one hop and are not forwarded. */
const HOP = new Set(["host", "connection", "keep-alive"]);

export async function startRecorder(target: string): Promise<Recorder> {
  const to = new URL(target);
  const exchanges: Exchange[] = [];
  let taken = 0;
  const server = http.createServer((req, res) => {
    const start = Date.now();
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const headers: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k) && v !== undefined) headers[k] = v;
      const fwd = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers, agent: false }, (ans) => {
        const out: Buffer[] = [];
        ans.on("data", (c: Buffer) => out.push(c));
        ans.on("end", () => {
          const response = Buffer.concat(out);
          exchanges.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers, body, status: ans.statusCode ?? 0, response: response.toString(), start, end: Date.now() });
          const back: http.OutgoingHttpHeaders = {};
          for (const [k, v] of Object.entries(ans.headers)) if (!HOP.has(k) && k !== "transfer-encoding" && v !== undefined) back[k] = v;
          back["content-length"] = response.length;
          res.writeHead(ans.statusCode ?? 502, back);
          res.end(response);
        });
      });
      fwd.on("error", (e) => {
        exchanges.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers, body, status: 0, response: `recorder: ${e.message}`, start, end: Date.now() });
        res.writeHead(502);
        res.end(`recorder: ${e.message}\n`);
      });
      // A chunked request stays chunked (the transfer-encoding header is forwarded); one with a
      // Content-Length keeps it.
      fwd.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    exchanges,
    take() {
      const fresh = exchanges.slice(taken);
      taken = exchanges.length;
      return fresh;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
