import http, { type IncomingMessage } from "node:http";
import net, { type AddressInfo } from "node:net";
import { expect } from "chai";
import { MemoryBudget, readBody, setBodyIdleTimeout } from "../../core/body.ts";
import { BackpressureError, type HttpError } from "../../core/errors.ts";
import { decodeSnappyFramed, decodeSnappyFramedAsync, SnappyTooLarge } from "../../core/snappy-framed.ts";
import { oneByteSnappyChunks } from "../support/snappy.ts";

/** What `fn` throws. */
function thrown(fn: () => void): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected an error");
}

describe("memory budget for bodies in flight", () => {
  it("lets requests hold bytes up to the limit and refuses the one that would go over", () => {
    const budget = new MemoryBudget(100, "max_inflight_bytes");
    const a = budget.reserve();
    const b = budget.reserve();
    a.take(60);
    b.take(30);
    expect(budget.used).to.equal(90);
    const err = thrown(() => b.take(20));
    expect(err).to.be.instanceOf(BackpressureError);
    expect((err as BackpressureError).status).to.equal(503);
    expect((err as Error).message).to.equal("pushes in flight hold 90 bytes, the limit is 100 (max_inflight_bytes); nothing of this push was accepted, retry later");
    a.release();
    b.release();
    expect(budget.used).to.equal(0);
  });

  it("always lets a request alone through, however large", () => {
    const budget = new MemoryBudget(100, "max_inflight_bytes");
    const only = budget.reserve();
    only.take(80);
    only.take(500);
    expect(budget.used).to.equal(580);
    const other = budget.reserve();
    expect(() => other.take(1)).to.throw(BackpressureError);
    only.release();
    other.take(1);
    expect(budget.used).to.equal(1);
  });
});

describe("memory budget: one client's fair share", () => {
  it("holds one client's several requests to a quarter of the budget, leaving the rest to others", () => {
    const budget = new MemoryBudget(400, "max_inflight_bytes");
    expect(budget.share).to.equal(100);
    const first = budget.reserve("10.0.0.1");
    const second = budget.reserve("10.0.0.1");
    first.take(60);
    second.take(40);
    const err = thrown(() => second.take(1));
    expect(err).to.be.instanceOf(BackpressureError);
    expect((err as BackpressureError).headers).to.deep.equal({ "Retry-After": "1" });
    expect((err as Error).message).to.equal(
      "pushes in flight from 10.0.0.1 hold 100 bytes; one client may hold 100 bytes (a quarter of max_inflight_bytes) with more than one push at once; nothing of this push was accepted, retry later",
    );
    expect(() => budget.reserve("10.0.0.1").take(1)).to.throw(BackpressureError);
    // Another client still finds three quarters free.
    budget.reserve("10.0.0.2").take(300);
    expect(budget.used).to.equal(400);
  });

  it("lets a client's one request grow past the share while the budget has room, as one large push needs", () => {
    const budget = new MemoryBudget(400, "max_inflight_bytes");
    const other = budget.reserve("10.0.0.2");
    other.take(50);
    const large = budget.reserve("10.0.0.1");
    large.take(200);
    large.take(100);
    expect(budget.heldBy("10.0.0.1")).to.equal(300);
    // Its second request is over the share; the whole budget still refuses anyone past it.
    expect(() => budget.reserve("10.0.0.1").take(1)).to.throw(/one client may hold 100 bytes/);
    large.take(50);
    expect(() => other.take(1)).to.throw(/pushes in flight hold 400 bytes, the limit is 400/);
  });

  it("gives a client's share back when its requests are released", () => {
    const budget = new MemoryBudget(400, "max_inflight_bytes");
    const a = budget.reserve("10.0.0.1");
    const b = budget.reserve("10.0.0.1");
    a.take(70);
    b.take(30);
    a.release();
    expect(budget.heldBy("10.0.0.1")).to.equal(30);
    budget.reserve("10.0.0.1").take(70);
    b.release();
    a.release();
    expect(budget.used).to.equal(70);
  });

  it("counts a request against its peer address", () => {
    const budget = new MemoryBudget(400, "max_inflight_bytes");
    const req = { socket: { remoteAddress: "::ffff:10.0.0.9" } } as IncomingMessage;
    budget.reserve(req).take(10);
    expect(budget.heldBy("10.0.0.9")).to.equal(10);
  });
});

interface Outcome {
  error?: HttpError;
  body?: Buffer;
  ms: number;
}

/** A real server whose handler reads each body with readBody under the given idle timeout. */
async function bodyServer(idleMs: number, budget: MemoryBudget): Promise<{ url: URL; results: Promise<Outcome>[]; close(): void }> {
  const results: Promise<Outcome>[] = [];
  const server = http.createServer((req, res) => {
    setBodyIdleTimeout(req, idleMs);
    const t0 = performance.now();
    const reservation = budget.reserve(req);
    const done = readBody(req, { maxBodyBytes: 1 << 20, maxDecompressedBytes: 1 << 20, reservation })
      .then(
        (body): Outcome => ({ body, ms: performance.now() - t0 }),
        (error: HttpError): Outcome => ({ error, ms: performance.now() - t0 }),
      )
      .finally(() => reservation.release());
    results.push(done);
    void done.then((r) => {
      res.writeHead(r.error?.status ?? 200, r.error?.headers ?? {});
      res.end(r.error?.message ?? "ok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return { url: new URL(`http://127.0.0.1:${port}/`), results, close: () => server.close() };
}

describe("body idle timeout", function () {
  this.timeout(10_000);

  it("refuses a body that stops arriving with 408 naming body_idle_timeout, closes the connection and releases the budget", async () => {
    const budget = new MemoryBudget(1 << 20, "max_inflight_bytes");
    const s = await bodyServer(500, budget);
    const socket = net.connect(Number(s.url.port), "127.0.0.1");
    let answer = "";
    socket.on("data", (d: Buffer) => (answer += d.toString()));
    const closed = new Promise((r) => socket.on("close", r));
    socket.write("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + "x".repeat(60_000));
    await new Promise((r) => setTimeout(r, 200));
    expect(budget.used).to.equal(60_000);
    await closed;
    const r = await s.results[0];
    expect(r.error?.status).to.equal(408);
    expect(r.error?.message).to.equal("request body stopped arriving: no bytes for 500 ms after 60000 bytes (body_idle_timeout); nothing of this push was accepted");
    expect(r.ms).to.be.within(450, 3000);
    expect(answer).to.match(/^HTTP\/1\.1 408 [\s\S]*Connection: close/i);
    expect(budget.used).to.equal(0);
    s.close();
  });

  it("reads whole a body whose pauses are each shorter than the timeout, however long it takes", async () => {
    const budget = new MemoryBudget(1 << 20, "max_inflight_bytes");
    const s = await bodyServer(500, budget);
    const socket = net.connect(Number(s.url.port), "127.0.0.1");
    socket.write("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nConnection: close\r\n\r\n");
    for (const part of ["ab", "cd", "ef"]) {
      await new Promise((r) => setTimeout(r, 300));
      socket.write(part);
    }
    const r = await s.results[0];
    expect(r.error).to.equal(undefined);
    expect(r.body?.toString()).to.equal("abcdef");
    expect(r.ms).to.be.above(500);
    socket.destroy();
    s.close();
  });
});

describe("snappy bodies of many tiny chunks", () => {
  it("decodes 1.8M one-byte stored chunks to the same bytes, with the event loop turning all along", async () => {
    const text = Buffer.from(Array.from({ length: 150_000 }, (_, i) => `m{a="${i % 100}"} 1\n`).join("").slice(0, 1_800_000));
    const body = oneByteSnappyChunks(text);
    expect(decodeSnappyFramed(body, 64 << 20).equals(text)).to.equal(true);
    let last = performance.now();
    let longest = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 1);
    try {
      const decoded = await decodeSnappyFramedAsync(body, 64 << 20);
      expect(decoded.equals(text)).to.equal(true);
    } finally {
      clearInterval(ticker);
    }
    // The whole decode ran for over a second before it was done in slices.
    expect(longest).to.be.below(100);
  });

  it("refuses a stream whose chunks declare more than the output limit before decoding any", async () => {
    const body = oneByteSnappyChunks(Buffer.alloc(1000, 0x61));
    let err: unknown;
    try {
      await decodeSnappyFramedAsync(body, 999);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(SnappyTooLarge);
    expect((await decodeSnappyFramedAsync(body, 1000)).length).to.equal(1000);
  });
});
