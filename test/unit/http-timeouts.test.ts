// The HTTP server's timeouts against slow clients, on a real server in this process: headers
// that never finish (plain and TLS), answers nobody reads, and what must not be cut (a slow
// download that keeps moving, a handler that works long, a kept-alive TLS connection).
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import tls from "node:tls";
import v8 from "node:v8";
import vm from "node:vm";
import { expect } from "chai";
import { agentSections } from "../../core/agent-options.ts";
import { HttpServer, type HttpOptions } from "../../core/http.ts";
import { createLogger } from "../../core/log.ts";
import { HttpSecurity } from "../../core/security/http-security.ts";
import { makePki, type TestPki } from "../support/tls.ts";

const BIG = 32 << 20;

interface Running {
  server: HttpServer;
  port: number;
}

const running: HttpServer[] = [];

async function start(over: Partial<HttpOptions>): Promise<Running> {
  const defaults = Object.fromEntries(Object.entries(agentSections.http).map(([k, spec]) => [k, spec.default as unknown]));
  const opts = { ...defaults, listen: "127.0.0.1:0", ...over } as HttpOptions;
  const log = createLogger("silent", "json");
  const security = new HttpSecurity(opts, log);
  await security.load();
  const server = new HttpServer(opts, log, security);
  // A fresh answer per request, as /metrics renders one: what a stalled reader holds.
  server.route(["GET"], "/big", (ctx) => void (ctx.body = Buffer.alloc(Number(ctx.query.size ?? BIG), 97)), { access: "public" });
  server.route(
    ["GET"],
    "/slow",
    async (ctx) => {
      await new Promise((r) => setTimeout(r, Number(ctx.query.ms)));
      ctx.body = "done\n";
    },
    { access: "public" },
  );
  const { port } = await server.listen();
  running.push(server);
  return { server, port };
}

interface Closed {
  /** Milliseconds from the connection's start to its close. */
  after: number;
  text: string;
}

/** Waits for the server to close the connection, collecting what it sent. */
function closed(socket: net.Socket, t0: number): Promise<Closed> {
  return new Promise((resolve) => {
    let text = "";
    socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
    socket.on("error", () => {});
    socket.on("close", () => resolve({ after: performance.now() - t0, text }));
  });
}

/** Sends a header line every `everyMs` and never ends the headers. */
function trickleHeaders(socket: net.Socket, everyMs: number): void {
  socket.write("GET /-/healthy HTTP/1.1\r\nHost: x\r\n");
  let n = 0;
  const timer = setInterval(() => socket.write(`X-Slow-${n++}: 1\r\n`), everyMs);
  socket.on("close", () => clearInterval(timer));
}

/** Reads `size` bytes of answer at about `bytesPerStep` every `stepMs`, and tells what came. */
function slowRead(socket: net.Socket, bytesPerStep: number, stepMs: number): Promise<{ got: number; error?: string }> {
  return new Promise((resolve) => {
    let got = 0;
    let step = 0;
    let error: string | undefined;
    socket.on("data", (d: Buffer) => {
      got += d.length;
      step += d.length;
      if (step >= bytesPerStep) {
        step = 0;
        socket.pause();
        setTimeout(() => socket.resume(), stepMs);
      }
    });
    socket.on("error", (e) => (error = e.message));
    socket.on("close", () => resolve({ got, error }));
  });
}

function forceGc(): () => void {
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc") as () => void;
}

async function settledArrayBuffers(gc: () => void): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  return process.memoryUsage().arrayBuffers;
}

describe("HTTP server timeouts against slow clients", function () {
  this.timeout(30_000);
  let dir = "";
  let pki: TestPki;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "pushkit-http-timeouts-"));
    pki = makePki(dir);
  });
  afterEach(async () => {
    for (const s of running.splice(0)) await s.close(Date.now());
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe("headers_timeout", () => {
    it("answers 408 and closes connections whose headers never finish within ~1 s of a 1 s headers_timeout (Node alone: ~30 s)", async () => {
      const { port } = await start({ headers_timeout: 1000 });
      const t0 = performance.now();
      const all = Array.from({ length: 50 }, () => {
        const socket = net.connect(port, "127.0.0.1");
        trickleHeaders(socket, 200);
        return closed(socket, t0);
      });
      const silent = net.connect(port, "127.0.0.1");
      const results = [...(await Promise.all(all)), await closed(silent, t0)];
      for (const r of results) {
        expect(r.after).to.be.within(900, 2500);
      }
      expect(results.slice(0, 50).every((r) => r.text.startsWith("HTTP/1.1 408 "))).to.equal(true);
    });

    it("over TLS counts from the accept: a stalled handshake, a late first byte and slow headers are all closed ~1 s after connecting", async () => {
      const { port } = await start({ headers_timeout: 1000, tls_cert_file: pki.certFile, tls_key_file: pki.keyFile });
      const t0 = performance.now();
      // The first byte of a handshake, then nothing.
      const stalled = net.connect(port, "127.0.0.1", () => stalled.write(Buffer.from([0x16])));
      // Connects, waits 900 ms, then shakes hands and sends headers slowly: each phase alone is
      // under the limit, together they are not (counted per phase, it would close at ~1.9 s).
      const late = net.connect(port, "127.0.0.1");
      const lateClosed = closed(late, t0);
      setTimeout(() => {
        const secure = tls.connect({ socket: late, ca: pki.ca, servername: "localhost" }, () => trickleHeaders(secure, 50));
        secure.on("error", () => {});
      }, 900);
      const results = await Promise.all([closed(stalled, t0), lateClosed]);
      for (const r of results) expect(r.after).to.be.within(900, 1700);
    });

    it("over TLS does not cut a kept-alive connection whose later request comes after headers_timeout", async () => {
      const { port } = await start({ headers_timeout: 1000, keep_alive_timeout: 5000, tls_cert_file: pki.certFile, tls_key_file: pki.keyFile });
      const secure = tls.connect({ port, host: "127.0.0.1", ca: pki.ca, servername: "localhost" });
      let text = "";
      secure.on("data", (d: Buffer) => (text += d.toString()));
      await new Promise((r) => secure.once("secureConnect", r));
      secure.write("GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n");
      await new Promise((r) => setTimeout(r, 1800));
      secure.write("GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n");
      await new Promise((r) => setTimeout(r, 300));
      secure.destroy();
      expect(text.match(/HTTP\/1\.1 200 OK/g)).to.have.length(2);
    });
  });

  describe("write_timeout", () => {
    it("disconnects clients that never read a 32 MiB answer after write_timeout, and the answers' memory is freed", async () => {
      const gc = forceGc();
      const { port } = await start({ write_timeout: 2000 });
      const baseline = await settledArrayBuffers(gc);
      const clients = Array.from({ length: 4 }, () => {
        const socket = net.connect(port, "127.0.0.1");
        socket.pause();
        socket.write("GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
        return socket;
      });
      let held = 0;
      for (let i = 0; i < 30 && held < 3 * BIG; i++) {
        await new Promise((r) => setTimeout(r, 50));
        held = process.memoryUsage().arrayBuffers - baseline;
      }
      expect(held, "the answers are held while nobody reads them").to.be.above(3 * BIG);
      await new Promise((r) => setTimeout(r, 3500));
      const after = await settledArrayBuffers(gc);
      expect(after - baseline).to.be.below(BIG / 2);
      // Each client, reading now, finds the answer cut short.
      const read = await Promise.all(
        clients.map((s) => {
          const reading = slowRead(s, Infinity, 0);
          s.resume();
          return reading;
        }),
      );
      for (const r of read) expect(r.got).to.be.below(BIG);
    });

    it("does not cut a slow download that keeps moving, over plain HTTP and TLS", async () => {
      const plain = await start({ write_timeout: 1000 });
      const secure = await start({ write_timeout: 1000, tls_cert_file: pki.certFile, tls_key_file: pki.keyFile });
      const size = 16 << 20;
      const a = net.connect(plain.port, "127.0.0.1");
      a.write(`GET /big?size=${size} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const b = tls.connect({ port: secure.port, host: "127.0.0.1", ca: pki.ca, servername: "localhost" });
      b.write(`GET /big?size=${size} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      // 2 MiB every 400 ms: about 3.5 s for the whole answer, with pauses under the timeout.
      const [ra, rb] = await Promise.all([slowRead(a, 2 << 20, 400), slowRead(b, 2 << 20, 400)]);
      expect(ra.got).to.be.above(size);
      expect(rb.got).to.be.above(size);
    });

    it("does not cut a request the server works on for longer than write_timeout", async () => {
      const { port } = await start({ write_timeout: 1000 });
      const socket = net.connect(port, "127.0.0.1");
      socket.write("GET /slow?ms=2500 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      const r = await closed(socket, performance.now());
      expect(r.text).to.match(/^HTTP\/1\.1 200 OK[\s\S]*\r\n\r\ndone\n$/);
    });
  });
});
