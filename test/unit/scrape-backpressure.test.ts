// A scrape answer sent as the client takes it (http/stream-body.ts with the scrape's writer),
// over a real socket: a client that stops reading holds the writer a few chunks ahead of what it
// read, not the whole answer; one that reads gets the whole answer, the same bytes as written in
// one go; one that goes away stops the writing.
import { expect } from "chai";
import Koa from "koa";
import http from "node:http";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import type { MetricFamily } from "../../plugins/formats/prometheus/model.ts";
import { render } from "../../plugins/formats/prometheus/write.ts";
import { exposition, WrittenSources } from "../../plugins/inputs/pushgateway/http/exposition.ts";
import { streamBody } from "../../plugins/inputs/pushgateway/http/stream-body.ts";
import { gather } from "../../plugins/inputs/pushgateway/store/gather.ts";
import { ScrapeOrder } from "../../plugins/inputs/pushgateway/store/scrape-order.ts";
import { snapshot } from "../../plugins/inputs/pushgateway/store/snapshot.ts";
import { GroupStore } from "../../plugins/inputs/pushgateway/store/store.ts";
import { capturedLogger } from "../support/logs.ts";

/** About 40 MB of text exposition: 60,000 series with long label values. */
function bigStore(): GroupStore {
  const store = new GroupStore({ consistency_check: true, reject_timestamps: false, max_groups: 0 });
  const pad = "v".repeat(600);
  for (let k = 0; k < 6; k++) {
    const family: MetricFamily = { name: "wide", type: "GAUGE", metrics: [] };
    for (let i = 0; i < 10_000; i++) family.metrics.push({ labels: ["path", `${pad}${i}`], value: i });
    store.apply({ replaceAll: true, grouping: new Map([["job", "j"], ["instance", `i${k}`]]), families: [family], timeMs: 1000 });
  }
  return store;
}

interface Served {
  url: URL;
  /** Bytes the writer has produced so far, and whether it has stopped. */
  produced(): number;
  finished(): boolean;
  close(): Promise<void>;
}

async function serve(store: GroupStore): Promise<Served> {
  let produced = 0;
  let finished = false;
  const order = new ScrapeOrder();
  const written = new WrittenSources();
  const app = new Koa();
  // Koa prints a client's reset connection on stderr; these tests reset connections on purpose.
  app.silent = true;
  app.use((ctx) => {
    const states = snapshot(store.all());
    ctx.type = "text/plain";
    streamBody(
      ctx,
      async function* (slicer) {
        try {
          for await (const chunk of exposition(await order.gather(states, [], slicer), { format: "text", escaping: "underscores" }, written, slicer)) {
            produced += chunk.length;
            yield chunk;
          }
        } finally {
          finished = true;
        }
      },
      capturedLogger().log,
    );
  });
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}/metrics`),
    produced: () => produced,
    finished: () => finished,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Waits until the writer has produced something, and then nothing more for `quietMs`. */
async function settled(s: Served, quietMs = 400, maxMs = 10_000): Promise<number> {
  const until = Date.now() + maxMs;
  let last = -1;
  let since = Date.now();
  while (Date.now() < until) {
    const now = s.produced();
    if (now === 0) {
      await sleep(25);
      continue;
    }
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return now;
    await sleep(25);
  }
  throw new Error(`the writer never stopped: ${s.produced()} bytes`);
}

function connect(url: URL): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => {
      socket.write(`GET ${url.pathname} HTTP/1.1\r\nHost: x\r\n\r\n`);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

describe("a scrape answer sent as the client takes it", function () {
  this.timeout(60_000);
  const store = bigStore();
  const expected = Buffer.from(render(gather(store.all()), "text") as string);
  const total = expected.length;
  let served: Served;

  beforeEach(async () => {
    served = await serve(store);
  });
  afterEach(() => served.close());

  it("is written only a few chunks ahead of a client that does not read, and whole once it reads", async () => {
    expect(total).to.be.greaterThan(35_000_000);
    const socket = await connect(served.url);
    socket.pause();
    const ahead = await settled(served);
    // What the kernel's socket buffers took, and a few chunks: not the answer.
    expect(ahead, `${ahead} of ${total} bytes written for a client that reads nothing`).to.be.lessThan(total / 4);
    expect(served.finished()).to.equal(false);
    // The client reads again: the rest comes, the writer finishes.
    const got: Buffer[] = [];
    socket.on("data", (d: Buffer) => got.push(d));
    socket.resume();
    const until = Date.now() + 30_000;
    while (!served.finished() && Date.now() < until) await sleep(25);
    expect(served.finished()).to.equal(true);
    expect(served.produced()).to.equal(total);
    socket.destroy();
  });

  it("gives the whole answer, the bytes written in one go", async () => {
    const res = await fetch(served.url);
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.headers.get("transfer-encoding")).to.equal("chunked");
    expect(body.equals(expected)).to.equal(true);
  });

  it("stops being written when the client goes away", async () => {
    const socket = await connect(served.url);
    await new Promise((resolve) => socket.once("data", resolve));
    socket.destroy();
    const until = Date.now() + 10_000;
    while (!served.finished() && Date.now() < until) await sleep(10);
    expect(served.finished(), "the writer is still running").to.equal(true);
    const at = served.produced();
    await sleep(300);
    expect(served.produced()).to.equal(at);
    expect(at).to.be.lessThan(total / 4);
  });
});
