// The DaemonSet's container, run on this machine as the kubelet would run it: the production
// build (tsc + copy-assets, laid out as the image's /app), started with the container's own
// command and args, with the environment Kubernetes builds from its env list (fieldRefs filled
// in, $(VAR) expanded, the sinks Secret present), the ConfigMap's files as the conf dir and a
// temporary directory standing for the hostPath. Then what the kubelet and an app do: readiness
// and liveness probes, a push, SIGTERM. And the same for overlays/secure (rendered by kubectl
// kustomize), its Secret volumes standing for temporary directories written as the kubelet
// writes them: the probes over HTTPS without credentials, clients with the CA and a token, a
// Secret update taken without a restart.
import type { V1Container } from "@kubernetes/client-node";
import { expect } from "chai";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import type { TLSSocket } from "node:tls";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "../support/backends.ts";
import { makePki, type TestPki } from "../support/tls.ts";
import {
  agentContainerOf,
  findKubectl,
  imageEnv,
  kubectlKustomize,
  kustomizeOffline,
  mountedConfigMap,
  podEnv,
  podSpecOf,
  readmeYaml,
  repoRoot,
  secretsFrom,
  simulateSecretMounts,
  writeSecretVolume,
  type SecretData,
} from "./deploy-support.ts";
import type { K8sObject } from "./k8s-schema.ts";

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

/** The agent container of a pod, running here. */
interface Pod {
  dir: string;
  pointsFile: string;
  port: number;
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
  argv: string[];
  /** Where each Secret volume stands, by volume name. */
  secretDir: (volume: string) => string;
}

/**
 * Starts the agent container of the objects as the kubelet would: the environment from its env
 * list, the ConfigMap's files as the conf dir, a temporary directory for the hostPath, the given
 * Secrets' data in their volumes' places, the sinks Secret writing to a file.
 */
async function startPod(objects: K8sObject[], secrets: Record<string, SecretData> = {}): Promise<Pod> {
  const container = agentContainerOf(objects);
  const dir = mkdtempSync(path.join(tmpdir(), "pushkit-pod-"));
  const confDir = path.join(dir, "conf.d");
  const hostPath = path.join(dir, "hostpath");
  mkdirSync(confDir);
  mkdirSync(hostPath);
  for (const [name, text] of Object.entries(mountedConfigMap(objects).data)) writeFileSync(path.join(confDir, name), text);
  const pointsFile = path.join(dir, "points.lp");
  const secretDir = (volume: string) => path.join(dir, "secrets", volume);
  const secretFiles = simulateSecretMounts(objects, secrets, secretDir);
  const port = await freePort();
  const env = podEnv(container.env ?? [], {
    image: imageEnv(),
    fieldRefs: { "spec.nodeName": "node-a", "status.hostIP": "127.0.0.1" },
    secret: (name, key) => (name === "pushkit-sinks" && key === "sinks" ? `file://${pointsFile}` : undefined),
    // What a mount or the pod's network gives the container, here on this machine.
    override: { ENV_HTTP_LISTEN: `127.0.0.1:${port}`, ENV_DATA_DIR: hostPath, ENV_CONF_DIR: confDir, ...secretFiles },
  });

  // The container's command, with the image's /app mapped to the build.
  const [cmd, ...cmdArgs] = [...(container.command ?? []), ...(container.args ?? [])];
  expect(cmd, "the container runs node itself").to.equal("node");
  const argv = cmdArgs.map((a) => (a.startsWith("/app/") ? path.join(appDir, a.slice("/app/".length)) : a));
  expect(existsSync(argv[0]), `${argv[0]} was built`).to.equal(true);
  const child = spawn(process.execPath, argv, { cwd: appDir, env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { dir, pointsFile, port, child, stderr: () => stderr, exited, argv, secretDir };
}

function stopPod(pod: Pod | undefined): void {
  if (!pod) return;
  if (pod.child.exitCode === null && pod.child.signalCode === null) pod.child.kill("SIGKILL");
  rmSync(pod.dir, { recursive: true, force: true });
}

/** Polls the probe's path until it answers 200, as the kubelet would before sending traffic. */
async function untilReady(pod: Pod, status: () => Promise<number>, what: string): Promise<void> {
  const until = Date.now() + 20_000;
  for (;;) {
    if (pod.child.exitCode !== null) throw new Error(`the agent exited with ${pod.child.exitCode}:\n${pod.stderr()}`);
    const s = await status().catch(() => 0);
    if (s === 200) return;
    if (Date.now() > until) throw new Error(`${what} did not answer 200 in time (last ${s}); stderr:\n${pod.stderr()}`);
    await sleep(100);
  }
}

/** SIGTERM, as the kubelet stops the pod: the exit code, and whether it came within the grace period. */
async function terminate(pod: Pod, objects: K8sObject[]): Promise<{ code: number | null | "still running"; ms: number }> {
  const graceMs = (podSpecOf(objects).terminationGracePeriodSeconds ?? 30) * 1000;
  const started = Date.now();
  pod.child.kill("SIGTERM");
  const code = await Promise.race([pod.exited, sleep(graceMs).then(() => "still running" as const)]);
  return { code, ms: Date.now() - started };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The CN of the certificate the server presented. */
  cn: string;
}

/**
 * An HTTPS request to the pod. With ca, the certificate is checked against it (as curl --cacert,
 * Prometheus' ca_file); without, it is not checked at all, as the kubelet's probes do not.
 */
function httpsRequest(url: string, o: { method?: string; headers?: Record<string, string>; body?: string; ca?: Buffer } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: o.method ?? "GET", headers: o.headers, ca: o.ca, rejectUnauthorized: o.ca !== undefined, agent: false }, (res) => {
      const cn = String((res.socket as TLSSocket).getPeerCertificate().subject?.CN ?? "");
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, cn }));
    });
    req.on("error", reject);
    req.end(o.body);
  });
}

describe("deploy: the DaemonSet's container, simulated on this machine", function () {
  this.timeout(30_000);

  before(function () {
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
  });

  after(() => {
    rmSync(appDir, { recursive: true, force: true });
  });

  describe("the base", () => {
    let pod: Pod;
    let url: string;

    before(async () => {
      pod = await startPod(objects);
      url = `http://127.0.0.1:${pod.port}`;
    });

    after(() => stopPod(pod));

    it("becomes ready: the readiness probe's path answers 200", async () => {
      const path = container.readinessProbe!.httpGet!.path!;
      await untilReady(pod, () => fetch(url + path).then((r) => r.status), path);
    });

    it("answers the liveness probe's path with 200", async () => {
      const res = await fetch(url + container.livenessProbe!.httpGet!.path!);
      expect(res.status).to.equal(200);
    });

    it("is node itself, with the container's arguments: no npm, tsx or shell in between", () => {
      const pid = pod.child.pid!;
      expect(realpathSync(`/proc/${pid}/exe`)).to.equal(realpathSync(process.execPath));
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((s) => s !== "");
      expect(cmdline.slice(1)).to.deep.equal(pod.argv);
      expect(cmdline.join(" ")).to.not.match(/tsx|npm/);
      // Parse workers are threads, so the agent has no child processes.
      expect(childrenOf(pid)).to.deep.equal([]);
    });

    it("accepts a push to /metrics/job/nightly", async () => {
      const res = await fetch(`${url}/metrics/job/nightly`, { method: "POST", body: "# TYPE job_runs_total counter\njob_runs_total 3\n" });
      expect(res.status, await res.text()).to.be.within(200, 299);
    });

    it("exits 0 on SIGTERM, within the pod's grace period", async () => {
      const { code, ms } = await terminate(pod, objects);
      expect(code, pod.stderr()).to.equal(0);
      expect(ms).to.be.below((podSpecOf(objects).terminationGracePeriodSeconds ?? 30) * 1000);
    });

    it("wrote the pushed point to the Secret's sink", () => {
      const lines = existsSync(pod.pointsFile) ? readFileSync(pod.pointsFile, "utf8").split("\n") : [];
      expect(lines.filter((l) => /^job,(.*,)?job=nightly[, ]/.test(l) && / runs_total=3 /.test(l)), lines.join("\n")).to.have.length(1);
    });

    it("tagged it with the node's name from ENV_GLOBAL_TAGS=node=$(NODE_NAME)", () => {
      const lines = readFileSync(pod.pointsFile, "utf8").split("\n").filter((l) => l.includes("job=nightly"));
      expect(lines.filter((l) => /,node=node-a[, ]/.test(l)), lines.join("\n")).to.have.length(1);
    });
  });

  describe("overlays/secure: HTTPS and a token, from the Secrets' directory mounts", () => {
    const PUSH_TOKEN = "push-" + "1f".repeat(20);
    const READ_TOKEN = "read-" + "2e".repeat(20);
    const NEW_READ_TOKEN = "read-" + "3d".repeat(20);
    let secure: K8sObject[];
    let c: V1Container;
    let pki: TestPki;
    let pkiDir: string;
    let pod: Pod;
    let url: string;
    const auth = (token: string) => ({ authorization: `Bearer ${token}` });

    before(async function () {
      this.timeout(60_000);
      const kubectl = findKubectl();
      if (!kubectl) throw new Error("no kubectl found (set KUBECTL or install one: scripts/setup-peers.sh)");
      secure = kubectlKustomize(kubectl, path.join(repoRoot, "deploy/kubernetes/overlays/secure"));
      c = agentContainerOf(secure);
      pkiDir = mkdtempSync(path.join(tmpdir(), "pushkit-pod-pki-"));
      pki = makePki(pkiDir);
      pod = await startPod(secure, secretsFrom(pki, [`${PUSH_TOKEN} push`, `${READ_TOKEN} read`]));
      url = `https://127.0.0.1:${pod.port}`;
    });

    after(() => {
      stopPod(pod);
      if (pkiDir) rmSync(pkiDir, { recursive: true, force: true });
    });

    it("becomes ready over HTTPS: the probes' paths answer 200 without credentials, the certificate unchecked as by the kubelet", async () => {
      for (const kind of ["readinessProbe", "livenessProbe"] as const) {
        const get = c[kind]!.httpGet!;
        expect(get.scheme, kind).to.equal("HTTPS");
        await untilReady(pod, () => httpsRequest(url + get.path).then((r) => r.status), `${kind} ${get.path}`);
      }
    });

    it("serves no plain HTTP on the port", async () => {
      const status = await fetch(`http://127.0.0.1:${pod.port}/-/healthy`).then((r) => r.status, () => 0);
      expect(status).to.not.equal(200);
    });

    it("asks for a token on /metrics (the CA checked, as Prometheus does): 401 without, 403 with the push token, 200 with the read token", async () => {
      const none = await httpsRequest(`${url}/metrics`, { ca: pki.ca });
      expect(none.status).to.equal(401);
      expect(String(none.headers["www-authenticate"])).to.match(/^Bearer/);
      expect((await httpsRequest(`${url}/metrics`, { ca: pki.ca, headers: auth(PUSH_TOKEN) })).status).to.equal(403);
      const read = await httpsRequest(`${url}/metrics`, { ca: pki.ca, headers: auth(READ_TOKEN) });
      expect(read.status, read.body).to.equal(200);
      expect(read.cn).to.equal("localhost");
    });

    it("takes a push from curl --cacert with the push token, and refuses one without (401)", function () {
      if (spawnSync("curl", ["--version"]).status !== 0) throw new Error("curl is missing: install the test peers with scripts/setup-peers.sh");
      const push = (...headers: string[]) =>
        spawnSync("curl", ["--silent", "--show-error", "--output", "/dev/null", "--write-out", "%{http_code}", "--cacert", pki.caFile, ...headers.flatMap((h) => ["-H", h]), "--data-binary", "@-", `${url}/metrics/job/secure`], {
          input: "# TYPE job_runs_total counter\njob_runs_total 5\n",
          encoding: "utf8",
        });
      const without = push();
      expect(without.stdout, without.stderr).to.equal("401");
      const withToken = push(`Authorization: Bearer ${PUSH_TOKEN}`);
      expect(Number(withToken.stdout), withToken.stderr).to.be.within(200, 299);
    });

    it("takes the push of the README's CronJob script, with the token and CA of its Secret volume", function () {
      if (spawnSync("curl", ["--version"]).status !== 0) throw new Error("curl is missing: install the test peers with scripts/setup-peers.sh");
      const job = readmeYaml("HTTPS and credentials", /kind: CronJob/);
      const jc: V1Container = job.spec.jobTemplate.spec.template.spec.containers[0];
      const mount = jc.volumeMounts![0];
      // The job's Secret volume here; the Service's name is this agent's address.
      const jobSecret = path.join(pod.dir, "job-secret");
      writeSecretVolume(jobSecret, { token: PUSH_TOKEN, "ca.crt": pki.ca }, 0o644);
      const script = jc.args!.join(" ").replaceAll(mount.mountPath, jobSecret).replaceAll("https://pushkit.pushkit.svc:9529", url).replace("/metrics/job/nightly", "/metrics/job/readme");
      expect(jc.command).to.deep.equal(["sh", "-c"]);
      const r = spawnSync("sh", ["-c", script], { encoding: "utf8", timeout: 20_000 });
      expect(r.status, r.stderr).to.equal(0);
    });

    it("takes a changed Secret without a restart, as the kubelet writes it: a new token list, a renewed certificate", async function () {
      this.timeout(30_000);
      const pid = pod.child.pid;
      // The kubelet writes both Secrets' new versions and swaps each volume's ..data link.
      writeSecretVolume(pod.secretDir("credentials"), { tokens: `${PUSH_TOKEN} push\n${NEW_READ_TOKEN} read\n` }, 0o440);
      pki.rotate("pushkit-renewed");
      writeSecretVolume(pod.secretDir("tls"), secretsFrom(pki, [])["pushkit-tls"], 0o440);
      const until = Date.now() + 20_000; // [http] reload_interval is 5s
      for (;;) {
        const renewed = await httpsRequest(`${url}/metrics`, { ca: pki.ca, headers: auth(NEW_READ_TOKEN) });
        if (renewed.status === 200 && renewed.cn === "pushkit-renewed") break;
        if (Date.now() > until) throw new Error(`not reloaded in time: ${renewed.status} from CN=${renewed.cn}; stderr:\n${pod.stderr()}`);
        await sleep(250);
      }
      expect((await httpsRequest(`${url}/metrics`, { ca: pki.ca, headers: auth(READ_TOKEN) })).status, "the removed token").to.equal(401);
      expect(pod.child.pid).to.equal(pid);
      expect(pod.child.exitCode).to.equal(null);
    });

    it("exits 0 on SIGTERM, within the pod's grace period, having written the push to the sink", async () => {
      const { code } = await terminate(pod, secure);
      expect(code, pod.stderr()).to.equal(0);
      const lines = existsSync(pod.pointsFile) ? readFileSync(pod.pointsFile, "utf8").split("\n") : [];
      if (spawnSync("curl", ["--version"]).status === 0) {
        expect(lines.filter((l) => /job=secure[, ]/.test(l) && / runs_total=5 /.test(l)), lines.join("\n")).to.have.length(1);
        expect(lines.filter((l) => /job=readme[, ]/.test(l) && / runs_total=3 /.test(l)), lines.join("\n")).to.have.length(1);
      }
    });
  });
});
