// The main thread's turns for push work: callers that come together run one per event-loop
// turn, in order, and what the loop has to read (a socket, a timer) runs between them.
import { expect } from "chai";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { MainThreadQueue } from "../../core/main-thread-queue.ts";

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

describe("main thread queue", () => {
  it("runs callers that come together in order, one per loop turn, letting I/O in between", async () => {
    const server = createServer((_req, res) => res.end("ok"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    try {
      const q = new MainThreadQueue(5);
      const order: string[] = [];
      // A request the loop has to read while 20 pieces of 20 ms each wait their turn.
      let answeredAfter = -1;
      const probe = new Promise<void>((resolve) => {
        setTimeout(() => {
          request({ port, host: "127.0.0.1" }, (res) => {
            res.resume();
            res.on("end", () => {
              answeredAfter = order.length;
              resolve();
            });
          }).end();
        }, 30);
      });
      const pieces = Array.from({ length: 20 }, async (_, i) => {
        await q.enter();
        order.push(String(i));
        busy(20);
      });
      await Promise.all([...pieces, probe]);
      expect(order).to.deep.equal(Array.from({ length: 20 }, (_, i) => String(i)));
      // Without turns the probe would be answered after all 20 pieces (400 ms of work).
      expect(answeredAfter).to.be.below(10);
    } finally {
      server.close();
    }
  });

  it("lets a lone caller through at once while its turn has time left", async () => {
    const q = new MainThreadQueue(50);
    await q.enter();
    // Within the 50 ms turn just given, with nobody waiting.
    expect(q.enter()).to.equal(undefined);
    expect(q.queued).to.equal(0);
  });
});
