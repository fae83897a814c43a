// The reference Pushgateway (Debian's prometheus-pushgateway 1.5.1, installed by
// scripts/setup-peers.sh) as a child process on a free loopback port, and a raw HTTP client
// that sends a request target exactly as given (fetch would resolve dot segments and
// re-encode the path).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import http from "node:http";
import type { RefRequest } from "./reference-corpus.ts";
import { freePort } from "./backends.ts";

export const REFERENCE_BINARY = "/usr/bin/prometheus-pushgateway";

export interface Answer {
  /** 0 when no answer came within the timeout. */
  status: number;
  text: string;
  headers: http.IncomingHttpHeaders;
}

// Node 20's agent honours a server's "Keep-Alive: timeout=N" hint (it drops an idle socket a
// second before N) only when the agent has a timeout of its own; without one it keeps idle
// sockets for ever and now and then sends a request on a socket the server is just closing
// ("socket hang up"). Each request sets its own timeout, so this one only bounds idle sockets.
const agent = new http.Agent({ keepAlive: true, maxSockets: 4, timeout: 60_000 });

/** Sends one request to base (http://host:port) and reads the whole answer. */
export function send(base: string, r: RefRequest, timeoutMs = 5000): Promise<Answer> {
  const u = new URL(base);
  return new Promise((resolve) => {
    const headers: Record<string, string> = { ...r.headers };
    if (r.body !== undefined && r.chunks === undefined) headers["Content-Length"] = String(r.body.length);
    if (r.chunks !== undefined) headers["Transfer-Encoding"] = "chunked";
    let done = false;
    const finish = (a: Answer) => {
      if (!done) {
        done = true;
        resolve(a);
      }
    };
    const req = http.request({ host: u.hostname, port: u.port, method: r.method, path: r.path, headers, agent, timeout: timeoutMs }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (d: Buffer) => parts.push(d));
      res.on("end", () => finish({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString("utf8"), headers: res.headers }));
      res.on("error", (e) => finish({ status: 0, text: `response error: ${e.message}`, headers: {} }));
    });
    req.on("timeout", () => {
      req.destroy();
      finish({ status: 0, text: `no answer within ${timeoutMs} ms`, headers: {} });
    });
    req.on("error", (e) => finish({ status: 0, text: `request error: ${e.message}`, headers: {} }));
    if (r.body === undefined) {
      req.end();
    } else if (r.chunks !== undefined) {
      const size = Math.ceil(r.body.length / r.chunks);
      for (let i = 0; i < r.body.length; i += size) req.write(r.body.subarray(i, i + size));
      req.end();
    } else {
      req.end(r.body);
    }
  });
}

export async function getJson(base: string, p: string): Promise<unknown> {
  const a = await send(base, { method: "GET", path: p, headers: {} });
  if (a.status !== 200) throw new Error(`GET ${p}: ${a.status} ${a.text}`);
  return JSON.parse(a.text);
}


export interface RunningReference {
  url: string;
  /** host:port */
  address: string;
  pid: number;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts the reference with extraArgs, and no persistence file unless they give one
 * (`--persistence.file=...`); fails (never skips) when it is not installed.
 */
export async function startReference(extraArgs: readonly string[] = []): Promise<RunningReference> {
  if (!existsSync(REFERENCE_BINARY)) {
    throw new Error(`${REFERENCE_BINARY} is not installed; run scripts/setup-peers.sh (Debian package prometheus-pushgateway)`);
  }
  let lastError = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    // The flag may not be given twice.
    const persistence = extraArgs.some((a) => a.startsWith("--persistence.file=")) ? [] : ["--persistence.file="];
    const child = spawn(REFERENCE_BINARY, [`--web.listen-address=127.0.0.1:${port}`, ...persistence, "--log.level=warn", ...extraArgs], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout!.on("data", (d) => (output += d));
    child.stderr!.on("data", (d) => (output += d));
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    const url = `http://127.0.0.1:${port}`;
    const until = Date.now() + 10_000;
    while (Date.now() < until && child.exitCode === null) {
      const a = await send(url, { method: "GET", path: "/-/ready", headers: {} }, 1000);
      if (a.status === 200) {
        return {
          url,
          address: `127.0.0.1:${port}`,
          pid: child.pid!,
          child,
          output: () => output,
          async stop() {
            if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, "SIGTERM");
            await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
            if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, "SIGKILL");
          },
        };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    lastError = `reference did not become ready on port ${port}; output:\n${output}`;
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, "SIGKILL");
    await exited;
  }
  throw new Error(lastError);
}

/** Closes the kept-alive connections, so that the test process can exit. */
export function closeConnections(): void {
  agent.destroy();
}
