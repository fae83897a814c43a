// Migrating from the reference Pushgateway with its persistence file: Debian's
// prometheus-pushgateway 1.5.1 runs with --persistence.file, is sent the pushes of
// test/support/reference-persistence.ts (every metric type, HELP, @base64 grouping values,
// refused pushes), answers /api/v1/metrics and /metrics, and is stopped with SIGTERM, which
// writes the file. Then pushkit (the real agent, a child process) starts with that file as its
// persistence_file: it must serve what the reference served, keep the reference's file
// untouched beside under another name, write its own format in its place, and not import again
// when it restarts.
import { expect } from "chai";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startTestAgent, type RunningTestAgent } from "../support/agent.ts";
import { logLines } from "../support/logs.ts";
import { closeConnections, getJson, send } from "../support/reference-peer.ts";
import { apiDifferences, expositionDifferences, writeReferenceFile, type ReferenceFileRun } from "../support/reference-persistence.ts";
import { pushkitOwn, referenceOwn, type ApiGroupRaw } from "../support/store-sequences.ts";

const logs = (agent: RunningTestAgent) => logLines(agent.stderr());

const IMPORTED = "groups imported from the reference Pushgateway's persistence file";

interface Served {
  api: ApiGroupRaw[];
  metrics: string;
}

async function served(agent: RunningTestAgent): Promise<Served> {
  const api = ((await getJson(agent.url, "/api/v1/metrics")) as { data: ApiGroupRaw[] }).data;
  const metrics = await send(agent.url, { method: "GET", path: "/metrics", headers: {} });
  expect(metrics.status).to.equal(200);
  return { api, metrics: metrics.text };
}

describe("migrating from the reference Pushgateway's persistence file (1.5.1)", function () {
  this.timeout(60_000);

  let dir: string;
  let file: string;
  let reference: ReferenceFileRun;
  let referenceApi: ApiGroupRaw[];
  let original: Buffer;
  const agents: RunningTestAgent[] = [];

  function start(): Promise<RunningTestAgent> {
    return startTestAgent({ conf: { "inputs/pushgateway.conf": `[[inputs.pushgateway]]\npersistence_file = ${JSON.stringify(file)}\n` } }).then((a) => {
      agents.push(a);
      return a;
    });
  }

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "pushkit-migration-"));
    file = path.join(dir, "pushgateway.db");
    reference = await writeReferenceFile(file);
    referenceApi = (JSON.parse(reference.api) as { data: ApiGroupRaw[] }).data;
    original = readFileSync(file);
  });

  after(() => {
    for (const a of agents) a.cleanup();
    rmSync(dir, { recursive: true, force: true });
    closeConnections();
  });

  let first: Served;
  let aside: string;

  it("imports every group, keeps the reference's file beside untouched, and writes its own format in its place", async () => {
    expect(original.subarray(0, 1).toString()).not.to.equal("{");
    const before = Date.now();
    const agent = await start();
    const info = logs(agent).find((l) => l.msg.startsWith(IMPORTED));
    expect(info, agent.stderr()).not.to.equal(undefined);
    expect(info).to.include({ level: 30, file, groups: referenceApi.length, notImported: 0 });
    aside = info!.movedTo as string;
    const m = /^(.*)\.pushgateway-(\d+)$/.exec(aside);
    expect(m, aside).not.to.equal(null);
    expect(m![1]).to.equal(file);
    expect(Number(m![2])).to.be.within(before, Date.now());
    expect(readdirSync(dir).sort()).to.deep.equal([path.basename(file), path.basename(aside)].sort());
    expect(readFileSync(aside).equals(original), "the original's bytes").to.equal(true);
    const written = JSON.parse(readFileSync(file, "utf8")) as { format: string; groups: unknown[] };
    expect(written.format).to.equal("pushkit-pushgateway-groups");
    expect(written.groups).to.have.length(referenceApi.length);
    expect(logs(agent).filter((l) => l.level >= 50), "no error logged").to.deep.equal([]);
    first = await served(agent);
    expect(await agent.stop()).to.equal(0);
  });

  it("serves on /api/v1/metrics what the reference served for the same file: groups, families, types, help, times, push_time_seconds", () => {
    expect(apiDifferences(first.api, referenceApi)).to.deep.equal([]);
    const jobs = first.api.map((g) => g.labels.job).sort();
    expect(jobs).to.deep.equal(["/var/lib/db", "backup", "cron", "empty-instance", "flaky", "never", "unicode"]);
  });

  it("serves on /metrics what the reference served for the same file", () => {
    expect(expositionDifferences(first.metrics, pushkitOwn, reference.metrics, referenceOwn)).to.deep.equal([]);
  });

  it("does not import again when it restarts: it reads its own file, the original stays beside", async () => {
    const agent = await start();
    expect(logs(agent).some((l) => l.msg.startsWith(IMPORTED)), "no second import").to.equal(false);
    expect(logs(agent).find((l) => l.msg === "groups restored from the persistence file")).to.include({ groups: referenceApi.length });
    expect((await served(agent)).api).to.deep.equal(first.api);
    expect(readdirSync(dir).sort()).to.deep.equal([path.basename(file), path.basename(aside)].sort());
    expect(readFileSync(aside).equals(original)).to.equal(true);

    // the imported groups take part in the consistency checks like pushed ones
    const post = (p: string, body: string) => send(agent.url, { method: "POST", path: p, headers: {}, body: Buffer.from(body) });
    expect((await post("/metrics/job/cron/instance/node-1", "# TYPE cron_runs_total counter\ncron_runs_total 8\n")).status).to.equal(200);
    const clash = await post("/metrics/job/other", "# TYPE backup_files_total gauge\nbackup_files_total{kind=\"full\"} 1\n");
    expect(clash.status).to.equal(400);
    expect(clash.text).to.match(/backup_files_total.*is not a COUNTER/);
    expect(await agent.stop()).to.equal(0);
  });
});
