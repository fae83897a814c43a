// What running on every node asks of the agent: global tags from the environment, refusing a
// misspelled variable, one agent per data_dir, taking pushes while it drains at shutdown,
// self-metrics present from the start, and `npm start` stopping with its child.
import { expect } from "chai";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort, poll } from "../support/backends.ts";
import { repoRoot, startTestAgent, withoutTime, type RunningTestAgent } from "../support/agent.ts";
import { duplicateKeys } from "../support/logs.ts";

async function put(url: string, body: string): Promise<number> {
  const res = await fetch(url, { method: "PUT", body });
  await res.text();
  return res.status;
}

function startFailure(p: Promise<RunningTestAgent>): Promise<string> {
  return p.then(
    (a) => {
      a.cleanup();
      throw new Error("the agent started");
    },
    (e: Error) => e.message,
  );
}

const PUSHGATEWAY = { "pushgateway.conf": "[[inputs.pushgateway]]\n" };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("node agent (integration)", function () {
  this.timeout(40_000);

  describe("global tags (ENV_GLOBAL_TAGS)", () => {
    it("go on every point; the input's tags, body labels and the grouping key win over them", async () => {
      const agent = await startTestAgent({
        conf: { "pushgateway.conf": '[[inputs.pushgateway]]\ntags = { cluster = "from-input" }\n' },
        env: { ENV_GLOBAL_TAGS: "node=node-a,cluster=from-env,name=from-env,job=from-env,zone=z1" },
      });
      try {
        expect(await put(`${agent.url}/metrics/job/nightly`, 'runs_total{name="from-body"} 3 1700000000000\nruns_failed 0 1700000000000\n')).to.equal(200);
        expect((await agent.waitForLines(2)).map(withoutTime)).to.deep.equal([
          "runs,cluster=from-input,job=nightly,name=from-body,node=node-a,zone=z1 total=3",
          "runs,cluster=from-input,job=nightly,name=from-env,node=node-a,zone=z1 failed=0",
        ]);
      } finally {
        agent.cleanup();
      }
    });
  });

  describe("misspelled variables", () => {
    it("stop start-up with exit 2, naming the variable and the one meant", async () => {
      const msg = await startFailure(startTestAgent({ env: { ENV_HTTP_LISTN: "0.0.0.0:9529" } }));
      expect(msg).to.match(/exited with 2/);
      expect(msg).to.include("pushkit: environment variable ENV_HTTP_LISTN is not a pushkit setting (did you mean ENV_HTTP_LISTEN?)");
    });
  });

  describe("one agent per data_dir", () => {
    let dataDir: string;
    beforeEach(() => {
      dataDir = mkdtempSync(path.join(tmpdir(), "pushkit-lock-"));
    });
    afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

    it("a second agent on a data_dir in use is refused, naming the holder; after the holder is killed (-9) the next one takes over", async () => {
      const first = await startTestAgent({ conf: PUSHGATEWAY, env: { ENV_DATA_DIR: dataDir } });
      try {
        const msg = await startFailure(startTestAgent({ conf: PUSHGATEWAY, env: { ENV_DATA_DIR: dataDir } }));
        expect(msg).to.match(/exited with 2/);
        expect(msg).to.include(`pushkit: data_dir ${dataDir} is in use by another pushkit (pid ${first.child.pid} on host `);
        expect(msg).to.include("two agents must not share a data_dir");
        // The first one is undisturbed.
        expect(await put(`${first.url}/metrics/job/a`, "still_here 1\n")).to.equal(200);
        first.child.kill("SIGKILL");
        await first.stop();
        const next = await startTestAgent({ conf: PUSHGATEWAY, env: { ENV_DATA_DIR: dataDir } });
        try {
          expect(next.stderr()).to.include("taking over the data_dir lock its previous holder left");
          expect(await put(`${next.url}/metrics/job/a`, "here_again 1\n")).to.equal(200);
          expect(await next.stop()).to.equal(0);
        } finally {
          next.cleanup();
        }
        // A clean stop releases the lock: the next start takes it without a word.
        const after = await startTestAgent({ conf: PUSHGATEWAY, env: { ENV_DATA_DIR: dataDir } });
        try {
          expect(after.stderr()).not.to.include("taking over");
        } finally {
          after.cleanup();
        }
      } finally {
        first.cleanup();
      }
    });
  });

  describe("shutdown", () => {
    it("keeps taking pushes while its queues drain, says so on /-/ready, and keeps what it took", async () => {
      // A durable sink whose backend is down: the drain lasts the whole shutdown_timeout.
      const dead = `http://127.0.0.1:${await freePort()}/write?db=x`;
      const agent = await startTestAgent({
        conf: {
          "agent.conf": `[agent]\nshutdown_timeout = "3s"\n[http]\nlisten = "127.0.0.1:0"\n[log]\nformat = "json"\n[[sinks.influxdb]]\nurl = "${dead}"\nretry_initial = "100ms"\nretry_max = "200ms"\n`,
          "pushgateway.conf": "[[inputs.pushgateway]]\n",
        },
      });
      try {
        expect(await put(`${agent.url}/metrics/job/before`, "before_stop 1\n")).to.equal(200);
        const stopped = agent.stop("SIGTERM");
        await poll("draining", async () => (agent.stderr().includes('"msg":"shutting down"') ? true : undefined));
        const ready = await fetch(`${agent.url}/-/ready`);
        expect(ready.status).to.equal(503);
        expect(await ready.text()).to.equal("shutting down\n");
        expect((await fetch(`${agent.url}/-/healthy`)).status).to.equal(200);
        expect(await put(`${agent.url}/metrics/job/during`, "during_stop 1\nduring_stop_b 2\n")).to.equal(200);
        expect(await stopped).to.equal(0);
        // Nothing lost: the three points wait in the disk queue for the next start.
        expect(agent.stderr()).to.match(/"lost":0,"queuedOnDisk":3,"msg":"stopped"/);
      } finally {
        agent.cleanup();
      }
    });
  });

  describe("self-metrics", () => {
    it("labelled counters of every sink and of the pushgateway input are there, at 0, from the start", async () => {
      const agent = await startTestAgent({ conf: PUSHGATEWAY });
      try {
        // Served by the pushgateway input beside its groups, labels sorted as the reference does.
        const text = await (await fetch(`${agent.url}/metrics`)).text();
        for (const line of [
          'pushkit_sink_points_sent_total{sink="file"} 0',
          'pushkit_sink_batches_retried_total{sink="file"} 0',
          'pushkit_sink_write_failures_total{retry="true",sink="file"} 0',
          'pushkit_sink_write_failures_total{retry="false",sink="file"} 0',
          'pushkit_sink_points_dead_lettered_total{sink="file"} 0',
          'pushkit_sink_pushes_refused_total{sink="file"} 0',
          'pushkit_sink_batch_duration_seconds_count{outcome="failed",sink="file"} 0',
          'pushkit_sink_queue_points{sink="file"} 0',
          'pushkit_pushgateway_parse_errors_total{format="text"} 0',
          'pushkit_pushgateway_parse_errors_total{format="protobuf"} 0',
          'pushkit_pushgateway_parse_errors_total{format="openmetrics"} 0',
          'pushkit_pushgateway_points_total{format="text"} 0',
          "pushkit_pushgateway_groups_expired_total 0",
        ]) {
          expect(text.split("\n"), line).to.include(line);
        }
        expect(duplicateKeys(agent.stderr())).to.deep.equal([]);
      } finally {
        agent.cleanup();
      }
    });
  });

  describe("npm start", () => {
    it("stops with its agent on SIGTERM: both exit 0, nothing left running", async () => {
      const dataDir = mkdtempSync(path.join(tmpdir(), "pushkit-npm-start-"));
      const npm = spawn("npm", ["start", "--silent"], {
        cwd: repoRoot,
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ENV_HTTP_LISTEN: "127.0.0.1:0", ENV_DATA_DIR: dataDir, ENV_LOG_FORMAT: "json" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      try {
        let stderr = "";
        npm.stderr!.on("data", (d) => (stderr += d));
        npm.stdout!.resume();
        const exited = new Promise<number | null>((resolve) => npm.on("exit", (code) => resolve(code)));
        const started = await poll("agent started", async () => stderr.split("\n").find((l) => l.includes('"pushkit started"')), 30_000);
        const agentPid = (JSON.parse(started) as { pid: number }).pid;
        expect(agentPid).not.to.equal(npm.pid);
        npm.kill("SIGTERM");
        expect(await exited).to.equal(0);
        await poll("agent gone", async () => (alive(agentPid) ? undefined : true), 5000);
        expect(stderr).to.include('"msg":"stopped"');
      } finally {
        if (npm.exitCode === null) npm.kill("SIGKILL");
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
});
