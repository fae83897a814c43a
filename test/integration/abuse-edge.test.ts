// The HTTP edge of a real agent process under the abuse of issue 14: slowloris headers
// (finding 12), bodies that stall or trickle to hold max_inflight_bytes (finding 5), clients
// that never read a large /metrics (finding 4) and snappy bodies of millions of tiny chunks
// (finding 11). Clients come from several loopback addresses, as different hosts would.
import http from "node:http";
import net from "node:net";
import { expect } from "chai";
import { startTestAgent, type RunningTestAgent } from "../support/agent.ts";
import { poll } from "../support/backends.ts";
import { oneByteSnappyChunks } from "../support/snappy.ts";

interface Answer {
  status: number;
  text: string;
}

function put(url: string, body: Buffer | string, localAddress = "127.0.0.1", headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "PUT", localAddress, agent: false, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

function get(url: string): Promise<Answer & { ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode!, text, ms: performance.now() - t0 }));
      })
      .on("error", reject);
  });
}

/** A raw connection from `localAddress`, collecting what the agent sends until it closes. */
function connect(url: string, localAddress = "127.0.0.1"): { socket: net.Socket; closed: Promise<{ text: string; ms: number }> } {
  const { hostname, port } = new URL(url);
  const t0 = performance.now();
  const socket = net.connect({ host: hostname, port: Number(port), localAddress });
  let text = "";
  socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
  socket.on("error", () => {});
  const closed = new Promise<{ text: string; ms: number }>((resolve) => socket.on("close", () => resolve({ text, ms: performance.now() - t0 })));
  return { socket, closed };
}

/** Probes /-/healthy every 50 ms until `work` is done; the slowest answer, in ms. */
async function slowestHealth(url: string, work: Promise<unknown>): Promise<number> {
  let done = false;
  void work.finally(() => (done = true));
  let slowest = 0;
  while (!done) {
    const r = await get(`${url}/-/healthy`);
    expect(r.status).to.equal(200);
    slowest = Math.max(slowest, r.ms);
    await new Promise((r) => setTimeout(r, 50));
  }
  await work;
  return slowest;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("HTTP edge under abuse (integration)", function () {
  this.timeout(60_000);

  describe("slow senders: headers_timeout, body_idle_timeout and each client's share of max_inflight_bytes", () => {
    let agent: RunningTestAgent;
    before(async () => {
      agent = await startTestAgent({
        env: { ENV_HTTP_HEADERS_TIMEOUT: "1s", ENV_HTTP_BODY_IDLE_TIMEOUT: "1s" },
        // A share is a quarter of the budget: 256 KiB.
        conf: { "pushgateway.conf": '[[inputs.pushgateway]]\nmax_body_bytes = "1MiB"\nmax_inflight_bytes = "1MiB"\n' },
      });
    });
    after(() => agent.cleanup());

    it("closes 100 slowloris connections with 408 within ~1 s of a 1 s headers_timeout (was ~30 s past it)", async () => {
      const conns = Array.from({ length: 100 }, () => {
        const c = connect(agent.url);
        c.socket.write("GET /-/healthy HTTP/1.1\r\nHost: x\r\n");
        const timer = setInterval(() => c.socket.write("X-Slow: 1\r\n"), 200);
        c.socket.on("close", () => clearInterval(timer));
        return c.closed;
      });
      for (const r of await Promise.all(conns)) {
        expect(r.text).to.match(/^HTTP\/1\.1 408 /);
        expect(r.ms).to.be.below(3000);
      }
    });

    it("answers a stalled body 408 naming body_idle_timeout and frees its bytes of max_inflight_bytes at once", async () => {
      const stalled = connect(agent.url, "127.0.0.2");
      stalled.socket.write(`PUT /metrics/job/stalled HTTP/1.1\r\nHost: x\r\nContent-Length: ${1 << 20}\r\n\r\n`);
      stalled.socket.write(Buffer.alloc((1 << 20) - 1, "#"));
      const lastByte = performance.now();
      // Once it holds the whole budget (its bytes have arrived), another client is refused.
      await sleep(300);
      const refused = await poll("a push refused while the stalled body holds the budget", async () => {
        const r = await put(`${agent.url}/metrics/job/other`, `other 1\n${"# pad\n".repeat(20_000)}`);
        return r.status === 503 ? r : undefined;
      });
      expect(refused.text).to.match(/max_inflight_bytes/);
      const { text } = await stalled.closed;
      expect(performance.now() - lastByte).to.be.below(5000);
      expect(text).to.match(/^HTTP\/1\.1 408 /);
      expect(text).to.include("request body stopped arriving: no bytes for 1000 ms after 1048575 bytes (body_idle_timeout); nothing of this push was accepted");
      const after = await put(`${agent.url}/metrics/job/other`, `other 1\n${"# pad\n".repeat(20_000)}`);
      expect(after.status, after.text).to.equal(200);
    });

    it("keeps one client's trickling bodies to its share, so another client's large push still gets 200", async () => {
      // Six bodies of 200 KB each, then a byte every 300 ms: under body_idle_timeout forever.
      // Without shares they would hold more than the whole budget.
      const hog = Array.from({ length: 6 }, () => {
        const c = connect(agent.url, "127.0.0.2");
        c.socket.write(`PUT /metrics/job/hog HTTP/1.1\r\nHost: x\r\nContent-Length: 900000\r\n\r\n`);
        c.socket.write(Buffer.alloc(200_000, "#"));
        const timer = setInterval(() => c.socket.write("#"), 300);
        c.socket.on("close", () => clearInterval(timer));
        return c;
      });
      await sleep(500);
      const other = await put(`${agent.url}/metrics/job/other`, `other 2\n${"# pad\n".repeat(120_000)}`, "127.0.0.3");
      expect(other.status, other.text).to.equal(200);
      for (const c of hog) c.socket.destroy();
      const answers = await Promise.all(hog.map((c) => c.closed));
      const refused = answers.filter((a) => a.text.startsWith("HTTP/1.1 503 "));
      expect(refused.length).to.be.at.least(4);
      expect(refused[0].text).to.include("pushes in flight from 127.0.0.2 hold");
      expect(refused[0].text).to.include("one client may hold 262144 bytes (a quarter of max_inflight_bytes)");
    });
  });

  describe("slow readers and costly bodies: write_timeout, snappy framing", () => {
    let agent: RunningTestAgent;
    before(async () => {
      agent = await startTestAgent({ env: { ENV_HTTP_WRITE_TIMEOUT: "1s" }, conf: { "pushgateway.conf": "[[inputs.pushgateway]]\n" } });
    });
    after(() => agent.cleanup());

    it("disconnects clients that never read a 12 MB /metrics after write_timeout, and keeps answering health meanwhile", async () => {
      const pad = "p".repeat(600);
      const lines = Array.from({ length: 20_000 }, (_, i) => `big{i="${i}",pad="${pad}"} 1\n`).join("");
      const pushed = await put(`${agent.url}/metrics/job/big`, lines);
      expect(pushed.status, pushed.text).to.equal(200);
      const full = (await get(`${agent.url}/metrics`)).text.length;
      expect(full).to.be.above(12_000_000);
      const readers = Array.from({ length: 5 }, () => {
        const c = connect(agent.url);
        c.socket.pause();
        c.socket.write("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        return c;
      });
      const slowest = await slowestHealth(agent.url, sleep(3000));
      expect(slowest).to.be.below(1000);
      await poll("five cut-off readers logged", async () => {
        const cut = agent.stderr().split("\n").filter((l) => l.includes("client stopped reading its answer"));
        return cut.length >= 5 ? cut : undefined;
      });
      for (const c of readers) c.socket.resume();
      for (const r of await Promise.all(readers.map((c) => c.closed))) expect(r.text.length).to.be.below(full);
    });

    it("decodes snappy bodies of 1.8M one-byte stored chunks without holding /-/healthy, to the same text", async () => {
      const text = Buffer.from(`tiny_chunks 1\n${"# pad\n".repeat(300_000)}`.slice(0, 1_799_999) + "\n");
      const body = oneByteSnappyChunks(text);
      // Four clients, as in the finding: each body is 16.2 MB on the wire.
      const pushes = Promise.all(
        [2, 3, 4, 5].map((n) => put(`${agent.url}/metrics/job/tiny${n}`, body, `127.0.0.${n}`, { "Content-Encoding": "snappy" })),
      );
      const slowest = await slowestHealth(agent.url, pushes);
      for (const r of await pushes) expect(r.status, r.text).to.equal(200);
      // Before: each decode held the event loop for seconds (health up to 2.4 s).
      expect(slowest).to.be.below(1000);
      const metrics = (await get(`${agent.url}/metrics`)).text;
      for (const n of [2, 3, 4, 5]) expect(metrics).to.match(new RegExp(`^tiny_chunks\\{instance="",job="tiny${n}"\\} 1$`, "m"));
    });
  });
});
