// Real clients against a real agent (a child process) whose [http] server asks for credentials,
// serves HTTPS only, or wants client certificates: client_golang's push package (Go), Python's
// prometheus_client with its basic_auth_handler, prom-client's Pushgateway, curl, and a real
// Prometheus 2.42 scraping over HTTPS with a bearer token and with basic auth. Every client
// that has the right credentials must get its data in (asserted twice: in the series a scrape
// with valid credentials returns, and in the points the file sink writes), and the same client
// without credentials, with wrong ones or with too few scopes must fail (non-zero exit, a
// rejected promise, the status curl prints, `up` 0) without storing anything.
//
// Credentials are made fresh for every run: tokens from crypto.randomBytes, bcrypt hashes by
// Apache's htpasswd -nbB (apache2-utils), certificates by the openssl CLI (test/support/tls.ts).
// The peers are the Debian packages of scripts/setup-peers.sh; a missing one fails, never skips.
import { expect } from "chai";
import { execFile, execFileSync, type ExecFileOptions } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { Counter, Gauge, Pushgateway, Registry } from "prom-client";
import { repoRoot, startTestAgent, type RunningTestAgent } from "../support/agent.ts";
import { poll } from "../support/backends.ts";
import { startPrometheus, type RunningPrometheus } from "../support/prometheus.ts";
import { makePki, type TestPki } from "../support/tls.ts";

const CLIENTS_DIR = path.join(repoRoot, "test", "clients");
const PYTHON = "/usr/bin/python3";
const HTPASSWD = "/usr/bin/htpasswd";
const CURL = "/usr/bin/curl";

/**
 * The environment of every client process: no proxy, no CA bundle (SSL_CERT_FILE,
 * CURL_CA_BUNDLE, ...) and no other setting of the caller's shell reaches them.
 */
const CLEAN_ENV = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", LANG: "C.UTF-8" };

// ---------------------------------------------------------------------------------------------
// Running things

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: ExecFileOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 60_000, maxBuffer: 16 << 20, encoding: "utf8", env: CLEAN_ENV, ...opts }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
      if (err && typeof err.code === "string") reject(new Error(`cannot run ${cmd}: ${err.message} (install the test peers with: bash scripts/setup-peers.sh)`));
      else resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    child.stdin?.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** For https:// URLs: the CA to trust, and a client certificate. */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** One request on a fresh connection (no keep-alive pool), with node:http or node:https. */
function request(url: string, o: RequestOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions = { method: o.method ?? "GET", headers: o.headers ?? {}, agent: false };
    if (url.startsWith("https:")) Object.assign(options, { ca: o.ca, cert: o.cert, key: o.key });
    const req = (url.startsWith("https:") ? https : http).request(url, options, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(o.body);
  });
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const basic = (user: string, password: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` });

// ---------------------------------------------------------------------------------------------
// What a scrape returns, and what the file sink wrote

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a text (0.0.4) exposition. */
function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** The values of the samples named `name` whose labels include `labels`. */
function valuesOf(samples: Sample[], name: string, labels: Record<string, string>): number[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).map((s) => s.value);
}

/** The jobs (job label values) of every sample. */
function jobsOf(samples: Sample[]): Set<string> {
  return new Set(samples.map((s) => s.labels.job).filter((j) => j !== undefined));
}

function sinkLines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").filter((l) => l !== "") : [];
}

// ---------------------------------------------------------------------------------------------
// Credentials

interface Credentials {
  /** Every scope (no scopes listed). */
  allToken: string;
  pushToken: string;
  readToken: string;
  tokensFile: string;
  /** alice: every scope; pusher: push only; reader: read only. */
  passwords: { alice: string; pusher: string; reader: string };
  usersFile: string;
}

function htpasswd(user: string, password: string): string {
  // -n: to stdout, -b: password from the command line, -B: bcrypt (cost 5, htpasswd's default).
  if (!existsSync(HTPASSWD)) throw new Error(`${HTPASSWD} is not installed (bash scripts/setup-peers.sh installs apache2-utils)`);
  const line = execFileSync(HTPASSWD, ["-nbB", user, password], { encoding: "utf8" }).trim();
  expect(line, `htpasswd -nbB ${user}`).to.match(new RegExp(`^${user}:\\$2y\\$05\\$[./A-Za-z0-9]{53}$`));
  return line;
}

function makeCredentials(dir: string): Credentials {
  const token = () => randomBytes(24).toString("hex");
  const password = () => randomBytes(12).toString("base64url");
  const c = {
    allToken: token(),
    pushToken: token(),
    readToken: token(),
    tokensFile: path.join(dir, "tokens"),
    passwords: { alice: password(), pusher: password(), reader: password() },
    usersFile: path.join(dir, "htpasswd"),
  };
  writeFileSync(c.tokensFile, [`# made by security-clients.test.ts`, c.allToken, `${c.pushToken} push`, `${c.readToken} read`, ""].join("\n"));
  writeFileSync(
    c.usersFile,
    [htpasswd("alice", c.passwords.alice), `${htpasswd("pusher", c.passwords.pusher)} push`, `${htpasswd("reader", c.passwords.reader)} read`, ""].join("\n"),
  );
  return c;
}

// ---------------------------------------------------------------------------------------------
// The agents

/** agent.conf: the [http] keys given, debug JSON logs, and a file sink writing to pointsFile. */
function agentConf(pointsFile: string, httpKeys: Record<string, string>): string {
  return [
    "[http]",
    'listen = "127.0.0.1:0"',
    ...Object.entries(httpKeys).map(([k, v]) => `${k} = ${JSON.stringify(v)}`),
    "[log]",
    'level = "debug"',
    'format = "json"',
    "[[sinks.file]]",
    `path = ${JSON.stringify(pointsFile)}`,
    'flush_interval = "20ms"',
    "",
  ].join("\n");
}

interface SecureAgent {
  agent: RunningTestAgent;
  url: string;
  /** host:port */
  address: string;
  pointsFile: string;
  /** The headers and TLS options of a request that may read everything. */
  reader: RequestOptions;
}

/**
 * An agent with a pushgateway input and the given [http] keys for the enclosing describe:
 * started in before(), killed and its directory removed in after().
 */
function secureAgent(name: string, keys: () => { http: Record<string, string>; reader: RequestOptions }) {
  const h = { current: undefined as SecureAgent | undefined };
  before(async function () {
    this.timeout(30_000);
    const { http: httpKeys, reader } = keys();
    const pointsFile = path.join(work, `${name}.lp`);
    const agent = await startTestAgent({ conf: { "agent.conf": agentConf(pointsFile, httpKeys), "inputs/pushgateway.conf": "[[inputs.pushgateway]]\n" } });
    h.current = { agent, url: agent.url, address: new URL(agent.url).host, pointsFile, reader };
  });
  after(() => {
    h.current?.agent.cleanup();
  });
  return {
    get a(): SecureAgent {
      if (!h.current) throw new Error(`agent ${name} did not start`);
      return h.current;
    },
  };
}

/** A scrape of /metrics with credentials that may read: the samples. */
async function scrape(a: SecureAgent): Promise<Sample[]> {
  const res = await request(`${a.url}/metrics`, a.reader);
  expect(res.status, `GET /metrics: ${res.body}`).to.equal(200);
  return parseExposition(res.body);
}

/** Waits until the file sink wrote a line starting with `prefix` (a point without its timestamp). */
async function expectPoint(a: SecureAgent, prefix: string): Promise<void> {
  await poll(`a point "${prefix} ..." in the file sink`, async () => (sinkLines(a.pointsFile).some((l) => l.startsWith(`${prefix} `)) ? true : undefined), 5000, 20).catch(
    (e: Error) => {
      throw new Error(`${e.message}; the sink has:\n${sinkLines(a.pointsFile).join("\n")}`);
    },
  );
}

/** Nothing of the job arrived: no series in a scrape, no point in the file sink (after a pause for the flush). */
async function expectNothingOf(a: SecureAgent, job: string): Promise<void> {
  await sleep(150);
  expect([...jobsOf(await scrape(a))], "jobs in the store").not.to.include(job);
  expect(sinkLines(a.pointsFile).filter((l) => l.includes(`job=${job} `) || l.includes(`job=${job},`)), "points of the job").to.deep.equal([]);
}

// ---------------------------------------------------------------------------------------------
// The clients

let work = "";
let pki: TestPki;
let creds: Credentials;
let goPusher = "";

/** test/clients/go-pusher (push.New(url, job).Grouping("instance", "i1")...Push()) with extra flags. */
function goPush(url: string, job: string, ...flags: string[]): Promise<Run> {
  return run(goPusher, ["-url", url, "-job", job, "-grouping", "instance=i1", ...flags]);
}

/** test/clients/python_pusher.py push (push_to_gateway) with the environment given (PUSH_USER, PUSH_PASSWORD, SSL_CERT_FILE). */
function pyPush(url: string, job: string, env: Record<string, string> = {}): Promise<Run> {
  return run(PYTHON, [path.join(CLIENTS_DIR, "python_pusher.py"), url, job, "push", "instance=i1"], { env: { ...CLEAN_ENV, ...env } });
}

function nodeRegistry(): Registry {
  const r = new Registry();
  const requests = new Counter({ name: "nodepush_requests_total", help: "Requests handled by the batch job.", labelNames: ["code"], registers: [r] });
  requests.inc({ code: "200" }, 7);
  const temperature = new Gauge({ name: "nodepush_temperature_celsius", help: "Temperature per room.", labelNames: ["room"], registers: [r] });
  temperature.set({ room: "a" }, 21.5);
  return r;
}

interface CurlAnswer {
  /** curl's exit code (0 whenever it got an answer, whatever the status). */
  code: number | null;
  status: number;
  /** Response header lines, lower-cased names. */
  headers: string[];
  body: string;
  stderr: string;
}

/** curl -sS -i with the arguments given; the status from -w, the head and body split. */
async function curl(...args: string[]): Promise<CurlAnswer> {
  const res = await run(CURL, ["-sS", "-i", "--noproxy", "*", "-w", "\n%{http_code}", ...args]);
  const out = res.stdout;
  const nl = out.lastIndexOf("\n");
  const status = Number(out.slice(nl + 1));
  const text = out.slice(0, nl);
  const split = text.indexOf("\r\n\r\n");
  const head = split < 0 ? text : text.slice(0, split);
  return {
    code: res.code,
    status,
    headers: head
      .split("\r\n")
      .slice(1)
      .map((l) => l.replace(/^([^:]+):/, (_, n: string) => `${n.toLowerCase()}:`)),
    body: split < 0 ? "" : text.slice(split + 4),
    stderr: res.stderr,
  };
}

// ---------------------------------------------------------------------------------------------

describe("real clients with credentials, TLS and client certificates (integration)", function () {
  this.timeout(60_000);

  before(async function () {
    // The Go build compiles client_golang and its dependencies from Debian's sources (~10 s).
    this.timeout(300_000);
    work = mkdtempSync(path.join(tmpdir(), "pushkit-security-clients-"));
    mkdirSync(path.join(work, "pki"));
    pki = makePki(path.join(work, "pki"));
    creds = makeCredentials(work);
    const py = await run(PYTHON, ["-c", "import prometheus_client"]);
    expect(py.code, `${PYTHON} has no prometheus_client (bash scripts/setup-peers.sh installs python3-prometheus-client):\n${py.stderr}`).to.equal(0);
    goPusher = path.join(work, "go-pusher");
    const res = await run("go", ["build", "-o", goPusher, "."], {
      cwd: path.join(CLIENTS_DIR, "go-pusher"),
      timeout: 290_000,
      env: { ...CLEAN_ENV, GOPATH: "/usr/share/gocode", GO111MODULE: "off", GOPROXY: "off", GOFLAGS: "", GOCACHE: path.join(work, "gocache") },
    });
    expect(res.code, `go build failed (bash scripts/setup-peers.sh installs Go and client_golang):\n${res.stderr}`).to.equal(0);
  });

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  describe("plain HTTP with bearer tokens and basic-auth users", () => {
    const s = secureAgent("plain", () => ({
      http: { bearer_tokens_file: creds.tokensFile, basic_auth_users_file: creds.usersFile },
      reader: { headers: bearer(creds.readToken) },
    }));

    it("Go (client_golang): pushes with a bearer token (its Client() with a header-adding transport), and deletes with a push-only one", async () => {
      const a = s.a;
      const res = await goPush(a.url, "go-bearer", "-bearer-token", creds.allToken);
      expect(res.code, res.stderr).to.equal(0);
      expect(valuesOf(await scrape(a), "gopush_requests_total", { job: "go-bearer", instance: "i1" })).to.deep.equal([7]);
      expect(valuesOf(await scrape(a), "gopush_temperature_celsius", { job: "go-bearer", room: "b" })).to.deep.equal([-3.25]);
      await expectPoint(a, "gopush,instance=i1,job=go-bearer requests_total=7");
      await expectPoint(a, "gopush,instance=i1,job=go-bearer duration_seconds_count=4,duration_seconds_sum=10");

      const del = await goPush(a.url, "go-bearer", "-method", "delete", "-bearer-token", creds.pushToken);
      expect(del.code, del.stderr).to.equal(0);
      expect([...jobsOf(await scrape(a))]).not.to.include("go-bearer");
    });

    it("Go: pushes with the Pusher's BasicAuth (a push-only user)", async () => {
      const a = s.a;
      const res = await goPush(a.url, "go-basic", "-basic-auth", `pusher:${creds.passwords.pusher}`, "-format", "text");
      expect(res.code, res.stderr).to.equal(0);
      expect(valuesOf(await scrape(a), "gopush_requests_total", { job: "go-basic", instance: "i1" })).to.deep.equal([7]);
      await expectPoint(a, "gopush,instance=i1,job=go-basic requests_total=7");
    });

    it("Go: without credentials, with a wrong token or password: 401, exit 1, nothing stored", async () => {
      const a = s.a;
      const cases: [string, string[], RegExp][] = [
        ["go-none", [], /unexpected status code 401 .*401 unauthorized: no credentials/],
        ["go-badtoken", ["-bearer-token", randomBytes(24).toString("hex")], /unexpected status code 401 .*the bearer token is not valid/],
        ["go-badpw", ["-basic-auth", `alice:${creds.passwords.alice}x`], /unexpected status code 401 .*the user name or password is not valid/],
        ["go-nouser", ["-basic-auth", `mallory:${creds.passwords.alice}`], /unexpected status code 401 .*the user name or password is not valid/],
        // Another user's password is not this user's.
        ["go-otherpw", ["-basic-auth", `alice:${creds.passwords.pusher}`], /unexpected status code 401/],
      ];
      for (const [job, flags, error] of cases) {
        const res = await goPush(a.url, job, ...flags);
        expect(res.code, `${job}: ${res.stderr}`).to.equal(1);
        expect(res.stderr, job).to.match(error);
      }
      for (const [job] of cases) await expectNothingOf(a, job);
    });

    it("Go: a read-only token or user may not push: 403, exit 1", async () => {
      const a = s.a;
      for (const [job, flags] of [
        ["go-readtoken", ["-bearer-token", creds.readToken]],
        ["go-reader", ["-basic-auth", `reader:${creds.passwords.reader}`]],
      ] as [string, string[]][]) {
        const res = await goPush(a.url, job, ...flags);
        expect(res.code, `${job}: ${res.stderr}`).to.equal(1);
        expect(res.stderr, job).to.match(/unexpected status code 403 .*is not granted the "push" scope/);
        await expectNothingOf(a, job);
      }
    });

    it("Python (prometheus_client): push_to_gateway with a basic_auth_handler", async () => {
      const a = s.a;
      const res = await pyPush(a.url, "py-basic", { PUSH_USER: "pusher", PUSH_PASSWORD: creds.passwords.pusher });
      expect(res.code, res.stderr).to.equal(0);
      expect(valuesOf(await scrape(a), "pypush_requests_total", { job: "py-basic", instance: "i1" })).to.deep.equal([7]);
      await expectPoint(a, "pypush,instance=i1,job=py-basic requests_total=7");
      await expectPoint(a, "pypush,instance=i1,job=py-basic,room=a temperature_celsius=21.5");
    });

    it("Python: without credentials, with a wrong password or a read-only user: the client raises (401 / 403), nothing stored", async () => {
      const a = s.a;
      const cases: [string, Record<string, string>, RegExp][] = [
        ["py-none", {}, /HTTP Error 401: Unauthorized/],
        ["py-badpw", { PUSH_USER: "pusher", PUSH_PASSWORD: creds.passwords.alice }, /HTTP Error 401: Unauthorized/],
        ["py-reader", { PUSH_USER: "reader", PUSH_PASSWORD: creds.passwords.reader }, /HTTP Error 403: Forbidden/],
      ];
      for (const [job, env, error] of cases) {
        const res = await pyPush(a.url, job, env);
        expect(res.code, `${job}: ${res.stderr}`).to.equal(1);
        expect(res.stderr, job).to.match(error);
      }
      for (const [job] of cases) await expectNothingOf(a, job);
    });

    it("Node (prom-client): Pushgateway with an Authorization: Bearer header", async () => {
      const a = s.a;
      await new Pushgateway(a.url, { headers: bearer(creds.pushToken) }, nodeRegistry()).push({ jobName: "node-bearer", groupings: { instance: "i1" } });
      expect(valuesOf(await scrape(a), "nodepush_requests_total", { job: "node-bearer", instance: "i1", code: "200" })).to.deep.equal([7]);
      await expectPoint(a, "nodepush,code=200,instance=i1,job=node-bearer requests_total=7");
    });

    it("Node: without the header, with a wrong token or a read-only one: the promise rejects (401 / 403), nothing stored", async () => {
      const a = s.a;
      const cases: [string, Record<string, string>, RegExp][] = [
        ["node-none", {}, /^push failed with status 401, 401 unauthorized: no credentials/],
        ["node-badtoken", bearer(randomBytes(24).toString("hex")), /^push failed with status 401, 401 unauthorized: the bearer token is not valid/],
        ["node-basic-as-bearer", bearer(creds.passwords.alice), /^push failed with status 401/],
        ["node-readtoken", bearer(creds.readToken), /^push failed with status 403, 403 forbidden: bearer token #3 is not granted the "push" scope/],
      ];
      for (const [job, headers, error] of cases) {
        const push = new Pushgateway(a.url, { headers }, nodeRegistry()).push({ jobName: job, groupings: { instance: "i1" } });
        const err = await push.then(
          () => undefined,
          (e: Error) => e,
        );
        expect(err, `${job} was accepted`).to.be.instanceOf(Error);
        expect(err!.message, job).to.match(error);
      }
      for (const [job] of cases) await expectNothingOf(a, job);
    });
  });

  describe("HTTPS only, with bearer tokens and basic-auth users", () => {
    const s = secureAgent("tls", () => ({
      http: { tls_cert_file: pki.certFile, tls_key_file: pki.keyFile, bearer_tokens_file: creds.tokensFile, basic_auth_users_file: creds.usersFile },
      reader: { headers: bearer(creds.readToken), ca: pki.ca },
    }));

    it("the agent serves https://", () => {
      expect(s.a.url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
    });

    it("Go: pushes over HTTPS trusting the test CA (its Client() with RootCAs), with a bearer token and with BasicAuth", async () => {
      const a = s.a;
      let res = await goPush(a.url, "go-tls-bearer", "-ca-file", pki.caFile, "-bearer-token", creds.pushToken);
      expect(res.code, res.stderr).to.equal(0);
      res = await goPush(a.url, "go-tls-basic", "-ca-file", pki.caFile, "-basic-auth", `alice:${creds.passwords.alice}`);
      expect(res.code, res.stderr).to.equal(0);
      const samples = await scrape(a);
      expect(valuesOf(samples, "gopush_requests_total", { job: "go-tls-bearer", instance: "i1" })).to.deep.equal([7]);
      expect(valuesOf(samples, "gopush_requests_total", { job: "go-tls-basic", instance: "i1" })).to.deep.equal([7]);
      await expectPoint(a, "gopush,instance=i1,job=go-tls-bearer requests_total=7");
      await expectPoint(a, "gopush,instance=i1,job=go-tls-basic requests_total=7");
    });

    it("Go: without the CA the certificate is refused; with it but a wrong token, 401; nothing stored", async () => {
      const a = s.a;
      let res = await goPush(a.url, "go-tls-noca", "-bearer-token", creds.pushToken);
      expect(res.code, res.stderr).to.equal(1);
      expect(res.stderr).to.match(/x509: certificate signed by unknown authority/);
      res = await goPush(a.url, "go-tls-badtoken", "-ca-file", pki.caFile, "-bearer-token", `${creds.pushToken}0`);
      expect(res.code, res.stderr).to.equal(1);
      expect(res.stderr).to.match(/unexpected status code 401 .*the bearer token is not valid/);
      // The plain-HTTP URL of the TLS port: the agent's 400 reaches the client as its error.
      res = await goPush(a.url.replace(/^https:/, "http:"), "go-tls-plain", "-bearer-token", creds.pushToken);
      expect(res.code, res.stderr).to.equal(1);
      expect(res.stderr).to.match(/unexpected status code 400 .*this port serves HTTPS only/);
      for (const job of ["go-tls-noca", "go-tls-badtoken", "go-tls-plain"]) await expectNothingOf(a, job);
    });

    it("Python: push_to_gateway to https:// with basic auth, trusting the CA through SSL_CERT_FILE; a wrong password raises 401", async () => {
      const a = s.a;
      let res = await pyPush(a.url, "py-tls", { PUSH_USER: "pusher", PUSH_PASSWORD: creds.passwords.pusher, SSL_CERT_FILE: pki.caFile });
      expect(res.code, res.stderr).to.equal(0);
      expect(valuesOf(await scrape(a), "pypush_requests_total", { job: "py-tls", instance: "i1" })).to.deep.equal([7]);
      await expectPoint(a, "pypush,instance=i1,job=py-tls requests_total=7");

      res = await pyPush(a.url, "py-tls-badpw", { PUSH_USER: "pusher", PUSH_PASSWORD: "not-the-password", SSL_CERT_FILE: pki.caFile });
      expect(res.code, res.stderr).to.equal(1);
      expect(res.stderr).to.match(/HTTP Error 401: Unauthorized/);
      // Without the CA (no SSL_CERT_FILE: the system's CAs) the handshake fails.
      res = await pyPush(a.url, "py-tls-noca", { PUSH_USER: "pusher", PUSH_PASSWORD: creds.passwords.pusher });
      expect(res.code, res.stderr).to.equal(1);
      expect(res.stderr).to.match(/CERTIFICATE_VERIFY_FAILED/);
      for (const job of ["py-tls-badpw", "py-tls-noca"]) await expectNothingOf(a, job);
    });

    it("Node: Pushgateway over HTTPS with { ca } and a bearer header; without the CA or the header it rejects", async () => {
      const a = s.a;
      await new Pushgateway(a.url, { headers: bearer(creds.pushToken), ca: pki.ca }, nodeRegistry()).pushAdd({ jobName: "node-tls", groupings: { instance: "i1" } });
      expect(valuesOf(await scrape(a), "nodepush_requests_total", { job: "node-tls", instance: "i1", code: "200" })).to.deep.equal([7]);
      await expectPoint(a, "nodepush,code=200,instance=i1,job=node-tls requests_total=7");

      // The same through an https.Agent that trusts the CA.
      const agent = new https.Agent({ ca: pki.ca, keepAlive: false });
      try {
        await new Pushgateway(a.url, { headers: basic("alice", creds.passwords.alice), agent }, nodeRegistry()).push({ jobName: "node-tls-agent", groupings: { instance: "i1" } });
      } finally {
        agent.destroy();
      }
      expect(valuesOf(await scrape(a), "nodepush_temperature_celsius", { job: "node-tls-agent", room: "a" })).to.deep.equal([21.5]);

      const noCa = await new Pushgateway(a.url, { headers: bearer(creds.pushToken) }, nodeRegistry()).push({ jobName: "node-tls-noca" }).then(
        () => undefined,
        (e: NodeJS.ErrnoException) => e,
      );
      expect(noCa?.code, String(noCa)).to.equal("UNABLE_TO_VERIFY_LEAF_SIGNATURE");
      const noAuth = await new Pushgateway(a.url, { ca: pki.ca }, nodeRegistry()).push({ jobName: "node-tls-noauth" }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(noAuth?.message).to.match(/^push failed with status 401, 401 unauthorized: no credentials/);
      for (const job of ["node-tls-noca", "node-tls-noauth"]) await expectNothingOf(a, job);
    });

    it("curl --cacert: a push and a scrape with tokens, and with -u user:password", async () => {
      const a = s.a;
      const push = await curl("--cacert", pki.caFile, "-H", `Authorization: Bearer ${creds.pushToken}`, "--data-binary", 'cursec_value{kind="x"} 3.5\n', `${a.url}/metrics/job/curl-tls`);
      expect(push.code, push.stderr).to.equal(0);
      expect(push.status, push.body).to.equal(200);
      const scraped = await curl("--cacert", pki.caFile, "-H", `Authorization: Bearer ${creds.readToken}`, `${a.url}/metrics`);
      expect(scraped.status, scraped.body).to.equal(200);
      expect(valuesOf(parseExposition(scraped.body), "cursec_value", { job: "curl-tls", kind: "x" })).to.deep.equal([3.5]);
      await expectPoint(a, "cursec,job=curl-tls,kind=x value=3.5");

      const asUser = await curl("--cacert", pki.caFile, "-u", `reader:${creds.passwords.reader}`, `${a.url}/api/v1/metrics`);
      expect(asUser.status, asUser.body).to.equal(200);
      expect(asUser.body).to.contain('"curl-tls"');
    });

    it("curl: no or a wrong token is 401 with both challenges; a token without the scope is 403; /-/healthy needs nothing", async () => {
      const a = s.a;
      for (const args of [[], ["-H", `Authorization: Bearer ${creds.allToken.slice(1)}`], ["-u", `alice:${creds.passwords.reader}`]]) {
        const res = await curl("--cacert", pki.caFile, ...args, `${a.url}/metrics`);
        expect(res.status, `${args.join(" ")}: ${res.body}`).to.equal(401);
        expect(res.headers).to.include('www-authenticate: Bearer realm="pushkit"');
        expect(res.headers).to.include('www-authenticate: Basic realm="pushkit", charset="UTF-8"');
      }
      const pushOnly = await curl("--cacert", pki.caFile, "-H", `Authorization: Bearer ${creds.pushToken}`, `${a.url}/metrics`);
      expect(pushOnly.status).to.equal(403);
      expect(pushOnly.body).to.equal('403 forbidden: bearer token #2 is not granted the "read" scope\n');
      const readOnly = await curl("--cacert", pki.caFile, "-u", `reader:${creds.passwords.reader}`, "--data-binary", "cursec_value 1\n", `${a.url}/metrics/job/curl-reader`);
      expect(readOnly.status).to.equal(403);
      expect(readOnly.body).to.equal('403 forbidden: user reader is not granted the "push" scope\n');
      await expectNothingOf(a, "curl-reader");
      const healthy = await curl("--cacert", pki.caFile, `${a.url}/-/healthy`);
      expect([healthy.status, healthy.body]).to.deep.equal([200, "OK\n"]);
    });

    it("curl: plain http:// to the TLS port is a 400 saying HTTPS only; https:// without --cacert fails verification (exit 60)", async () => {
      const a = s.a;
      const plain = await curl("-H", `Authorization: Bearer ${creds.readToken}`, `${a.url.replace(/^https:/, "http:")}/metrics`);
      expect(plain.code, plain.stderr).to.equal(0);
      expect(plain.status).to.equal(400);
      expect(plain.body).to.equal("400 bad request: this port serves HTTPS only ([http] tls_cert_file is set); use https://\n");
      const plainPush = await curl("--data-binary", "cursec_value 1\n", `${a.url.replace(/^https:/, "http:")}/metrics/job/curl-plain`);
      expect(plainPush.status).to.equal(400);
      await expectNothingOf(a, "curl-plain");
      const unverified = await curl("-H", `Authorization: Bearer ${creds.readToken}`, `${a.url}/metrics`);
      expect(unverified.code, unverified.stderr).to.equal(60);
      expect(unverified.stderr).to.match(/SSL certificate problem: unable to get local issuer certificate/);
    });

    describe("a real Prometheus 2.42 scraping the agent over HTTPS", () => {
      let prom: RunningPrometheus | undefined;
      const JOBS = { bearer: "sec-bearer", basic: "sec-basic", pushOnly: "sec-push-only", none: "sec-no-credentials" };

      before(async function () {
        this.timeout(60_000);
        const a = s.a;
        // The series every job should see: pushed before Prometheus starts.
        const pushed = await request(`${a.url}/metrics/job/promsec`, { method: "PUT", headers: bearer(creds.pushToken), ca: pki.ca, body: "# TYPE promsec_value gauge\npromsec_value 42\n" });
        expect(pushed.status, pushed.body).to.equal(200);
        const secrets = path.join(work, "prometheus-secrets");
        mkdirSync(secrets, { recursive: true });
        const readTokenFile = path.join(secrets, "read-token");
        const pushTokenFile = path.join(secrets, "push-token");
        const passwordFile = path.join(secrets, "reader-password");
        writeFileSync(readTokenFile, `${creds.readToken}\n`);
        writeFileSync(pushTokenFile, `${creds.pushToken}\n`);
        writeFileSync(passwordFile, creds.passwords.reader);
        const job = (name: string, via: string, auth: string[]) => [
          `  - job_name: ${JSON.stringify(name)}`,
          "    honor_labels: true",
          "    scheme: https",
          "    tls_config:",
          `      ca_file: ${JSON.stringify(pki.caFile)}`,
          ...auth.map((l) => `    ${l}`),
          "    static_configs:",
          `      - targets: [${JSON.stringify(a.address)}]`,
          `        labels: { via: ${JSON.stringify(via)} }`,
        ];
        prom = await startPrometheus({
          env: CLEAN_ENV,
          config:
          [
            "global:",
            "  scrape_interval: 1s",
            "  scrape_timeout: 1s",
            "  evaluation_interval: 1s",
            "scrape_configs:",
            ...job(JOBS.bearer, "bearer", ["authorization:", "  type: Bearer", `  credentials_file: ${JSON.stringify(readTokenFile)}`]),
            ...job(JOBS.basic, "basic", ["basic_auth:", "  username: reader", `  password_file: ${JSON.stringify(passwordFile)}`]),
            ...job(JOBS.pushOnly, "push-only", ["authorization:", "  type: Bearer", `  credentials_file: ${JSON.stringify(pushTokenFile)}`]),
            ...job(JOBS.none, "none", []),
            "",
          ].join("\n"),
        });
      });

      after(async () => {
        await prom?.stop();
      });

      it("up is 1 with a bearer token (credentials_file) and with basic_auth, and the pushed series is queryable; a push-only token and no credentials give up 0 (403 / 401)", async () => {
        const p = prom!;
        // Every target scraped at least once (Prometheus sends its first targets to the scrape
        // manager about 5 s after the start): its `up` stored and its health known.
        const targets = await poll(
          "every target scraped",
          async () => {
            const ups = await p.query(`up{job=~"sec-.+"}`);
            const t = await p.targets();
            const scraped = (j: string) => ups.some((u) => u.metric.job === j) && t.some((x) => x.labels.job === j && x.health !== "unknown");
            return Object.values(JOBS).every(scraped) ? t : undefined;
          },
          20_000,
          200,
        );
        const up = async (job: string) => (await p.query(`up{job="${job}"}`)).map((v) => v.value[1]);
        expect(await up(JOBS.bearer), JSON.stringify(targets)).to.deep.equal(["1"]);
        expect(await up(JOBS.basic), JSON.stringify(targets)).to.deep.equal(["1"]);
        expect(await up(JOBS.pushOnly)).to.deep.equal(["0"]);
        expect(await up(JOBS.none)).to.deep.equal(["0"]);
        const lastError = (job: string) => targets.find((t) => t.labels.job === job)!.lastError;
        expect(lastError(JOBS.pushOnly)).to.match(/server returned HTTP status 403 Forbidden/);
        expect(lastError(JOBS.none)).to.match(/server returned HTTP status 401 Unauthorized/);

        for (const via of ["bearer", "basic"]) {
          const got = await poll(`promsec_value via ${via}`, async () => {
            const r = await p.query(`promsec_value{via="${via}"}`);
            return r.length > 0 ? r : undefined;
          });
          // honor_labels: the pushed job label wins over the scrape job's.
          expect(got.map((v) => [v.metric.job, v.value[1]])).to.deep.equal([["promsec", "42"]]);
        }
        for (const via of ["push-only", "none"]) expect(await p.query(`promsec_value{via="${via}"}`)).to.deep.equal([]);
      });
    });
  });

  describe("HTTPS with client certificates (tls_client_ca_file, TLS 1.3 minimum)", () => {
    const s = secureAgent("mtls", () => ({
      http: { tls_cert_file: pki.certFile, tls_key_file: pki.keyFile, tls_client_ca_file: pki.caFile, tls_min_version: "TLS1.3" },
      reader: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey },
    }));
    let strangerCert = "";
    let strangerKey = "";

    before(() => {
      // A client certificate of another CA (self-signed): a certificate, but not one the agent trusts.
      strangerCert = path.join(work, "stranger.pem");
      strangerKey = path.join(work, "stranger.key");
      execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", strangerKey, "-out", strangerCert, "-days", "1", "-subj", "/CN=stranger"], { stdio: ["ignore", "ignore", "pipe"] });
    });

    it("curl without --cert: 403 on /metrics and on a push, 200 on /-/healthy and /-/ready", async () => {
      const a = s.a;
      const metrics = await curl("--cacert", pki.caFile, `${a.url}/metrics`);
      expect(metrics.status, metrics.stderr).to.equal(403);
      expect(metrics.body).to.equal("403 forbidden: a client certificate signed by a CA of [http] tls_client_ca_file is required\n");
      const push = await curl("--cacert", pki.caFile, "--data-binary", "mtls_value 1\n", `${a.url}/metrics/job/mtls-nocert`);
      expect(push.status).to.equal(403);
      for (const p of ["/-/healthy", "/-/ready"]) {
        const res = await curl("--cacert", pki.caFile, `${a.url}${p}`);
        expect([res.status, res.body], p).to.deep.equal([200, "OK\n"]);
      }
      await expectNothingOf(a, "mtls-nocert");
    });

    it("curl with --cert/--key of the client certificate: a push and a scrape are 200", async () => {
      const a = s.a;
      const withCert = ["--cacert", pki.caFile, "--cert", pki.clientCertFile, "--key", pki.clientKeyFile];
      const push = await curl(...withCert, "--data-binary", 'mtls_value{kind="cert"} 2.5\n', `${a.url}/metrics/job/mtls-cert`);
      expect([push.status, push.body]).to.deep.equal([200, ""]);
      const scraped = await curl(...withCert, `${a.url}/metrics`);
      expect(scraped.status, scraped.body).to.equal(200);
      expect(valuesOf(parseExposition(scraped.body), "mtls_value", { job: "mtls-cert", kind: "cert" })).to.deep.equal([2.5]);
      await expectPoint(a, "mtls,job=mtls-cert,kind=cert value=2.5");
    });

    it("curl with a certificate of another CA: 403; over TLS 1.2 only: the handshake fails (exit 35)", async () => {
      const a = s.a;
      const stranger = await curl("--cacert", pki.caFile, "--cert", strangerCert, "--key", strangerKey, `${a.url}/metrics`);
      expect(stranger.status, stranger.stderr).to.equal(403);
      const old = await curl("--cacert", pki.caFile, "--cert", pki.clientCertFile, "--key", pki.clientKeyFile, "--tlsv1.2", "--tls-max", "1.2", `${a.url}/-/healthy`);
      expect(old.code, old.stderr).to.equal(35);
    });
  });
});
