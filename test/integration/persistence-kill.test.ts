// persistence_file against kill -9, with the real agent as a child process (node + tsx, as
// `npm start` runs it) and its default persistence_interval: a group whose push was answered
// 200 is on disk within the documented bound (the interval, 1 s, plus one write), so a
// SIGKILL after that bound loses none of them; and a stream of pushes costs about one write
// per interval, not one per push. (Before: the file was first written after 5 minutes, and a
// kill -9 lost all 1,000 acknowledged groups.)
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startTestAgent, type RunningTestAgent } from "../support/agent.ts";
import { logLines } from "../support/logs.ts";

const GROUPS = 1000;
/** persistence_interval's default. */
const INTERVAL_MS = 1000;
/**
 * The documented bound: the interval plus one write. A write of 1,000 small groups takes a few
 * milliseconds; a second is allowed for it on a loaded test machine.
 */
const BOUND_MS = INTERVAL_MS + 1000;

interface ApiGroup {
  labels: Record<string, string>;
  [family: string]: unknown;
}

function body(n: number): string {
  return `# TYPE kill_test_value gauge\nkill_test_value{n="${n}"} ${n}.5\n`;
}

async function push(agent: RunningTestAgent, n: number): Promise<void> {
  const res = await fetch(`${agent.url}/metrics/job/kill_test/instance/i${n}`, { method: "PUT", body: body(n), signal: AbortSignal.timeout(15_000) });
  expect(res.status, await res.text()).to.equal(200);
}

/** Every group the agent serves (GET /api/v1/metrics), by instance, with its kill_test_value. */
async function servedValues(agent: RunningTestAgent): Promise<Map<string, string>> {
  const res = await fetch(`${agent.url}/api/v1/metrics`);
  expect(res.status).to.equal(200);
  const doc = (await res.json()) as { data: ApiGroup[] };
  const out = new Map<string, string>();
  for (const g of doc.data) {
    const family = g.kill_test_value as { metrics: { value: string }[] } | undefined;
    out.set(g.labels.instance, family?.metrics[0]?.value ?? "(none)");
  }
  return out;
}

function writes(agent: RunningTestAgent): number {
  return logLines(agent.stderr()).filter((l) => l.msg === "groups persisted").length;
}

describe("persistence_file through kill -9 (integration)", function () {
  this.timeout(120_000);
  let dir: string;
  const agents: RunningTestAgent[] = [];

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "pushkit-persist-kill-"));
  });

  afterEach(() => {
    for (const a of agents.splice(0)) a.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(): Promise<RunningTestAgent> {
    // No persistence_interval: the default is what is tested.
    const conf = `[[inputs.pushgateway]]\npersistence_file = ${JSON.stringify(path.join(dir, "groups.json"))}\n`;
    const agent = await startTestAgent({ conf: { "inputs/pushgateway.conf": conf } });
    agents.push(agent);
    return agent;
  }

  it("brings back every acknowledged group after a kill -9 the bound after the last push; a stream of pushes costs one write per interval", async () => {
    const agent = await start();
    // A steady stream over about 3 s: 1,000 pushes, each answered 200 before the next round.
    const started = Date.now();
    const rounds = 30;
    for (let r = 0; r < rounds; r++) {
      const from = Math.floor((r * GROUPS) / rounds);
      const to = Math.floor(((r + 1) * GROUPS) / rounds);
      await Promise.all(Array.from({ length: to - from }, (_, i) => push(agent, from + i)));
      await sleep(100);
    }
    const lastAck = Date.now();
    const streamMs = lastAck - started;
    const duringStream = writes(agent);

    await sleep(BOUND_MS);
    const before = await servedValues(agent);
    expect(before.size).to.equal(GROUPS);
    expect(await agent.stop("SIGKILL")).to.equal(null);
    expect(agent.child.signalCode).to.equal("SIGKILL");

    // Batched: about one write per interval while the pushes went on, never one per push; and
    // written during the stream, not only at its end.
    const total = writes(agent);
    expect(duringStream, `writes during a ${streamMs} ms stream of ${GROUPS} pushes`).to.be.within(2, Math.ceil(streamMs / INTERVAL_MS) + 1);
    expect(total, "writes in all").to.be.at.most(Math.ceil((Date.now() - started) / INTERVAL_MS) + 1);

    const again = await start();
    const restored = logLines(again.stderr()).find((l) => l.msg === "groups restored from the persistence file");
    expect(restored, again.stderr().slice(-2000)).to.include({ groups: GROUPS });
    const after = await servedValues(again);
    const lost = [...before.keys()].filter((k) => !after.has(k));
    expect(lost, "groups lost by kill -9").to.deep.equal([]);
    expect(after).to.deep.equal(before);
    for (let n = 0; n < GROUPS; n++) expect(after.get(`i${n}`)).to.equal(`${n}.5`);
    const scrape = await (await fetch(`${again.url}/metrics`)).text();
    expect(scrape).to.include(`kill_test_value{instance="i999",job="kill_test",n="999"} 999.5\n`);
  });

  it("brings back a burst of 1,000 pushes sent at once, written in one write per interval at most", async () => {
    const agent = await start();
    const started = Date.now();
    // 50 at a time: the whole burst takes well under the interval on an idle machine.
    for (let from = 0; from < GROUPS; from += 50) await Promise.all(Array.from({ length: 50 }, (_, i) => push(agent, from + i)));
    const burstMs = Date.now() - started;
    await sleep(BOUND_MS);
    expect(await agent.stop("SIGKILL")).to.equal(null);
    expect(writes(agent), `writes for a burst of ${GROUPS} pushes in ${burstMs} ms`).to.be.within(1, Math.ceil(burstMs / INTERVAL_MS) + 1);

    const again = await start();
    const after = await servedValues(again);
    expect(after.size).to.equal(GROUPS);
    for (let n = 0; n < GROUPS; n++) expect(after.get(`i${n}`)).to.equal(`${n}.5`);
  });
});
