// The DaemonSet's container, run on this machine as the kubelet would run it: the production
// build (tsc + copy-assets, laid out as the image's /app), started with the container's own
// command and args, with the environment Kubernetes builds from its env list (fieldRefs filled
// in, $(VAR) expanded, the sinks Secret present), the ConfigMap's files as the conf dir and a
// temporary directory standing for the hostPath. Then what the kubelet and an app do: readiness
// and liveness probes, a push, SIGTERM.
import { expect } from "chai";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "../support/backends.ts";
import { agentContainerOf, imageEnv, kustomizeOffline, mountedConfigMap, podEnv, podSpecOf, repoRoot } from "./deploy-support.ts";

/** The build stands for the image's /app: package.json beside dist/ (node_modules is found above it, in the repository). */
const appDir = path.join(repoRoot, ".test-build");
const objects = kustomizeOffline(path.join(repoRoot, "deploy/kubernetes/base"));
const container = agentContainerOf(objects);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** PIDs whose parent is pid. */
function childrenOf(pid: number): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        // The parent pid is the second field after the command name, which may hold spaces.
        const stat = readFileSync(`/proc/${d}/stat`, "utf8");
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid;
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

describe("deploy: the DaemonSet's container, simulated on this machine", function () {
  this.timeout(30_000);
  let dir: string;
  let pointsFile: string;
  let url: string;
  let child: ChildProcess | undefined;
  let stderr = "";
  let exited: Promise<number | null>;
  let argv: string[];

  before(async function () {
    this.timeout(180_000);
    // The production build, as `npm run build` makes it, but inside the repository so that the
    // built cli.js finds node_modules by package name.
    rmSync(appDir, { recursive: true, force: true });
    const dist = path.join(appDir, "dist");
    const tsc = spawnSync(process.execPath, [path.join(repoRoot, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json", "--outDir", dist], { cwd: repoRoot, encoding: "utf8" });
    if (tsc.status !== 0) throw new Error(`tsc failed:\n${tsc.stdout}${tsc.stderr}`);
    const assets = spawnSync(process.execPath, ["scripts/copy-assets.mjs", dist], { cwd: repoRoot, encoding: "utf8" });
    if (assets.status !== 0) throw new Error(`copy-assets failed:\n${assets.stderr}`);
    copyFileSync(path.join(repoRoot, "package.json"), path.join(appDir, "package.json"));

    dir = mkdtempSync(path.join(tmpdir(), "pushkit-pod-"));
    const confDir = path.join(dir, "conf.d");
    const hostPath = path.join(dir, "hostpath");
    mkdirSync(confDir);
    mkdirSync(hostPath);
    for (const [name, text] of Object.entries(mountedConfigMap(objects).data)) writeFileSync(path.join(confDir, name), text);
    pointsFile = path.join(dir, "points.lp");
    const port = await freePort();
    const env = podEnv(container.env ?? [], {
      image: imageEnv(),
      fieldRefs: { "spec.nodeName": "node-a", "status.hostIP": "127.0.0.1" },
      secret: (name, key) => (name === "pushkit-sinks" && key === "sinks" ? `file://${pointsFile}` : undefined),
      // What a mount or the pod's network gives the container, here on this machine.
      override: { ENV_HTTP_LISTEN: `127.0.0.1:${port}`, ENV_DATA_DIR: hostPath, ENV_CONF_DIR: confDir },
    });
    url = `http://127.0.0.1:${port}`;

    // The container's command, with the image's /app mapped to the build.
    const [cmd, ...cmdArgs] = [...(container.command ?? []), ...(container.args ?? [])];
    expect(cmd, "the container runs node itself").to.equal("node");
    argv = cmdArgs.map((a) => (a.startsWith("/app/") ? path.join(appDir, a.slice("/app/".length)) : a));
    expect(existsSync(argv[0]), `${argv[0]} was built`).to.equal(true);
    child = spawn(process.execPath, argv, { cwd: appDir, env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    child.stderr!.on("data", (d) => (stderr += d));
    child.stdout!.resume();
    const proc = child;
    exited = new Promise((resolve) => proc.on("exit", (code) => resolve(code)));
  });

  after(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    if (dir) rmSync(dir, { recursive: true, force: true });
    rmSync(appDir, { recursive: true, force: true });
  });

  it("becomes ready: the readiness probe's path answers 200", async () => {
    const path = container.readinessProbe!.httpGet!.path!;
    const until = Date.now() + 20_000;
    for (;;) {
      if (child!.exitCode !== null) throw new Error(`the agent exited with ${child!.exitCode}:\n${stderr}`);
      const status = await fetch(url + path).then((r) => r.status, () => 0);
      if (status === 200) return;
      if (Date.now() > until) throw new Error(`${path} did not answer 200 in time (last ${status}); stderr:\n${stderr}`);
      await sleep(100);
    }
  });

  it("answers the liveness probe's path with 200", async () => {
    const res = await fetch(url + container.livenessProbe!.httpGet!.path!);
    expect(res.status).to.equal(200);
  });

  it("is node itself, with the container's arguments: no npm, tsx or shell in between", () => {
    const pid = child!.pid!;
    expect(realpathSync(`/proc/${pid}/exe`)).to.equal(realpathSync(process.execPath));
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((s) => s !== "");
    expect(cmdline.slice(1)).to.deep.equal(argv);
    expect(cmdline.join(" ")).to.not.match(/tsx|npm/);
    // Parse workers are threads, so the agent has no child processes.
    expect(childrenOf(pid)).to.deep.equal([]);
  });

  it("accepts a push to /metrics/job/nightly", async () => {
    const res = await fetch(`${url}/metrics/job/nightly`, { method: "POST", body: "# TYPE job_runs_total counter\njob_runs_total 3\n" });
    expect(res.status, await res.text()).to.be.within(200, 299);
  });

  it("exits 0 on SIGTERM, within the pod's grace period", async () => {
    const graceMs = (podSpecOf(objects).terminationGracePeriodSeconds ?? 30) * 1000;
    const started = Date.now();
    child!.kill("SIGTERM");
    const code = await Promise.race([exited, sleep(graceMs).then(() => "still running" as const)]);
    expect(code, stderr).to.equal(0);
    expect(Date.now() - started).to.be.below(graceMs);
  });

  it("wrote the pushed point to the Secret's sink", () => {
    const lines = existsSync(pointsFile) ? readFileSync(pointsFile, "utf8").split("\n") : [];
    expect(lines.filter((l) => /^job,(.*,)?job=nightly[, ]/.test(l) && / runs_total=3 /.test(l)), lines.join("\n")).to.have.length(1);
  });

  it("tagged it with the node's name from ENV_GLOBAL_TAGS=node=$(NODE_NAME)", () => {
    const lines = readFileSync(pointsFile, "utf8").split("\n").filter((l) => l.includes("job=nightly"));
    expect(lines.filter((l) => /,node=node-a[, ]/.test(l)), lines.join("\n")).to.have.length(1);
  });
});
