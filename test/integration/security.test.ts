// The agent's HTTP protection end to end, on a real agent process: which scope opens which
// route, 401 and 403 with their headers, TLS (versions, certificate rotation without dropping
// a connection, plain HTTP refused), credentials files reloaded or refused, no secret in any
// log or check-config output, cross-origin writes, CORS, and the push rate limit.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import tls from "node:tls";
import { expect } from "chai";
import { defaultAgentConf, runCli, startTestAgent, type RunningTestAgent } from "../support/agent.ts";
import { poll } from "../support/backends.ts";
import { makePki, type TestPki } from "../support/tls.ts";

const PUSH = "push-0123456789abcdef0123456789";
const READ = "read-0123456789abcdef0123456789";
const ADMIN = "admin-0123456789abcdef012345678";
const ALL = "all-0123456789abcdef0123456789ab";
const PASSWORD = "correct horse battery staple";

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Every header line as sent: two WWW-Authenticate lines stay two. */
  rawHeaders: string[];
  socket?: tls.TLSSocket;
}

interface Req {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  token?: string;
  ca?: Buffer;
  agent?: https.Agent | http.Agent;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
}

function send(url: string, o: Req = {}): Promise<Answer> {
  const headers = { ...o.headers, ...(o.token ? { Authorization: `Bearer ${o.token}` } : {}) };
  const lib = url.startsWith("https:") ? https : http;
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions = { method: o.method ?? "GET", headers, agent: o.agent, ...(o.ca ? { ca: o.ca } : {}), ...(o.maxVersion ? { maxVersion: o.maxVersion } : {}) };
    const req = lib.request(url, options, (res) => {
      const socket = res.socket as tls.TLSSocket;
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body, socket }));
    });
    req.on("error", reject);
    req.end(o.body);
  });
}

function conf(pointsFile: string, http: string): string {
  return defaultAgentConf(pointsFile).replace("[http]\n", `[http]\n${http}\n`);
}

const q = JSON.stringify;

describe("HTTP security of the agent (integration)", function () {
  this.timeout(60_000);
  let dir = "";
  let pki: TestPki;
  let tokensFile = "";
  let usersFile = "";
  const agents: RunningTestAgent[] = [];

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "pushkit-security-"));
    pki = makePki(dir);
    tokensFile = path.join(dir, "tokens");
    writeFileSync(tokensFile, `# scoped tokens\n${PUSH} push\n${READ} read\n${ADMIN} admin\n${ALL}\n`);
    usersFile = path.join(dir, "users");
    writeFileSync(usersFile, `${execFileSync("htpasswd", ["-nbB", "alice", PASSWORD]).toString().trim()} read\n`);
  });

  after(async () => {
    for (const a of agents) {
      await Promise.race([a.stop(), new Promise((r) => setTimeout(r, 5000))]);
      a.cleanup();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(httpConf: string, input = "[[inputs.pushgateway]]\nenable_admin_api = true\n"): Promise<RunningTestAgent> {
    const a = await startTestAgent({ conf: { "agent.conf": conf(path.join(dir, `points-${agents.length}.lp`), httpConf), "inputs/pushgateway.conf": input } });
    agents.push(a);
    return a;
  }

  describe("scopes over TLS with bearer tokens and basic auth", () => {
    let agent: RunningTestAgent;
    before(async () => {
      agent = await start(`tls_cert_file = ${q(pki.certFile)}\ntls_key_file = ${q(pki.keyFile)}\nbearer_tokens_file = ${q(tokensFile)}\nbasic_auth_users_file = ${q(usersFile)}\nreload_interval = "200ms"`);
    });
    const at = (p: string, o: Req = {}) => send(`${agent.url}${p}`, { ca: pki.ca, ...o });

    it("opens each route to the scope that covers it and answers 403 to the others", async () => {
      const routes: [string, string, "push" | "read" | "admin", number][] = [
        ["PUT", "/metrics/job/scoped", "push", 200],
        ["POST", "/metrics/job/scoped", "push", 200],
        ["GET", "/metrics", "read", 200],
        ["GET", "/api/v1/metrics", "read", 200],
        ["GET", "/api/v1/status", "read", 200],
        ["GET", "/", "read", 200],
        ["GET", "/status", "read", 200],
        ["DELETE", "/metrics/job/scoped", "push", 202],
        ["PUT", "/api/v1/admin/wipe", "admin", 202],
      ];
      const tokens = { push: PUSH, read: READ, admin: ADMIN };
      for (const [method, p, scope, ok] of routes) {
        for (const [granted, token] of Object.entries(tokens)) {
          const body = method === "PUT" || method === "POST" ? "scoped_up 1\n" : undefined;
          const a = await at(p, { method, token, body });
          if (granted === scope) expect(a.status, `${method} ${p} with the ${granted} token: ${a.body}`).to.equal(ok);
          else expect(`${a.status} ${a.body}`, `${method} ${p} with the ${granted} token`).to.match(new RegExp(`^403 403 forbidden: bearer token #\\d is not granted the "${scope}" scope\\n$`));
        }
        const all = await at(p, { method, token: ALL, body: method === "PUT" || method === "POST" ? "scoped_up 1\n" : undefined });
        expect(all.status, `${method} ${p} with the all-scopes token`).to.equal(ok);
      }
    });

    it("answers 401 with a challenge per scheme to missing or wrong credentials, and leaves the health checks open", async () => {
      for (const o of [{}, { token: `${PUSH}x` }, { headers: { Authorization: `Basic ${Buffer.from("alice:wrong").toString("base64")}` } }, { headers: { Authorization: `Basic ${Buffer.from(`mallory:${PASSWORD}`).toString("base64")}` } }]) {
        for (const p of ["/metrics", "/metrics/job/x", "/no/such/path"]) {
          const a = await at(p, { ...o, method: p.startsWith("/metrics/job") ? "PUT" : "GET", body: p.startsWith("/metrics/job") ? "x 1\n" : undefined });
          expect(a.status, `${p} ${JSON.stringify(o)}`).to.equal(401);
          expect(a.rawHeaders.flatMap((h, i) => (i % 2 === 1 && a.rawHeaders[i - 1] === "WWW-Authenticate" ? [h] : [])), p).to.deep.equal(['Bearer realm="pushkit"', 'Basic realm="pushkit", charset="UTF-8"']);
          expect(a.body).to.match(/^401 unauthorized: /);
        }
      }
      for (const p of ["/-/healthy", "/-/ready"]) expect((await at(p)).status, p).to.equal(200);
      // Which paths exist is told only to a client with credentials.
      expect((await at("/no/such/path", { token: READ })).status).to.equal(404);
    });

    it("takes basic auth with a bcrypt hash written by htpasswd -nbB, scoped", async () => {
      const basic = { Authorization: `Basic ${Buffer.from(`alice:${PASSWORD}`).toString("base64")}` };
      expect((await at("/metrics", { headers: basic })).status).to.equal(200);
      expect((await at("/metrics", { headers: basic })).status, "again, from the remembered check").to.equal(200);
      const push = await at("/metrics/job/alice", { method: "PUT", headers: basic, body: "x 1\n" });
      expect(`${push.status} ${push.body}`).to.equal('403 403 forbidden: user alice is not granted the "push" scope\n');
    });

    it("serves no plain HTTP on the TLS port, and no TLS older than the minimum", async () => {
      const plain = await send(agent.url.replace("https:", "http:") + "/-/healthy");
      expect(plain.status).to.equal(400);
      expect(plain.body).to.contain("this port serves HTTPS only");
      let error = "";
      await at("/-/healthy", { maxVersion: "TLSv1.1" }).catch((e: Error) => (error = e.message));
      expect(error).to.match(/protocol|version|alert/i);
    });

    it("serves a rotated certificate to new connections without dropping an open one", async () => {
      const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 1, ca: pki.ca });
      const first = await at("/-/healthy", { agent: keepAlive });
      const socket = first.socket!;
      expect(socket.getPeerCertificate().subject.CN).to.equal("localhost");
      pki.rotate("localhost-rotated");
      await poll("the rotated certificate", async () => {
        const a = await at("/-/healthy", { agent: new https.Agent({ ca: pki.ca }) });
        return a.socket!.getPeerCertificate().subject.CN === "localhost-rotated" ? true : undefined;
      });
      const again = await at("/metrics", { agent: keepAlive, token: READ });
      expect(again.status).to.equal(200);
      expect(again.socket, "the same connection").to.equal(socket);
      expect(socket.getPeerCertificate().subject.CN).to.equal("localhost");
      keepAlive.destroy();
      expect(agent.stderr()).to.contain('"TLS certificate and key reloaded"');
    });

    it("reloads the tokens file, and keeps the last good one when a change is not valid", async () => {
      const NEW = "new-0123456789abcdef0123456789ab";
      writeFileSync(tokensFile, `${NEW} read\n${PUSH} push\n${READ} read\n${ADMIN} admin\n${ALL}\n`);
      await poll("the new token", async () => ((await at("/metrics", { token: NEW })).status === 200 ? true : undefined));
      writeFileSync(tokensFile, `${NEW} read\n${READ} reed\n`);
      await poll("the refusal logged", async () => (agent.stderr().includes("keeping the last good one") ? true : undefined));
      expect(agent.stderr()).to.contain(`${tokensFile}:2: unknown scope \\"reed\\"`);
      expect((await at("/metrics", { token: NEW })).status).to.equal(200);
      expect((await at("/metrics", { token: READ })).status, "still in the last good file").to.equal(200);
      writeFileSync(tokensFile, `${PUSH} push\n${READ} read\n${ADMIN} admin\n${ALL}\n`);
      await poll("the token removed", async () => ((await at("/metrics", { token: NEW })).status === 401 ? true : undefined));
    });

    it("writes no credential into its logs", async () => {
      await at("/metrics", { token: `${READ}-wrong` });
      await at("/metrics", { headers: { Authorization: `Basic ${Buffer.from(`alice:${PASSWORD}-wrong`).toString("base64")}` } });
      const logs = agent.stderr();
      expect(logs).to.contain('"request refused"');
      for (const secret of [PUSH, READ, ADMIN, ALL, PASSWORD, Buffer.from(`alice:${PASSWORD}`).toString("base64"), "$2y$"]) expect(logs).not.to.contain(secret);
    });
  });

  describe("start-up and check-config", () => {
    it("shows that credentials are set, never what they are", async () => {
      const confDir = path.join(dir, "check");
      mkdirSync(confDir, { recursive: true });
      writeFileSync(path.join(confDir, "agent.conf"), `[http]\ntls_cert_file = ${q(pki.certFile)}\ntls_key_file = ${q(pki.keyFile)}\nbearer_tokens_file = ${q(tokensFile)}\nbasic_auth_users_file = ${q(usersFile)}\n`);
      const r = await runCli(["check-config", "--conf-dir", confDir]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.contain(`bearer_tokens_file = ${q(tokensFile)}`);
      expect(r.stdout).to.match(/#   bearer tokens: 4 \(push: 2, read: 2, admin: 2\)/);
      expect(r.stdout).to.match(/#   basic-auth users: 1 \(push: 0, read: 1, admin: 0\)/);
      expect(r.stdout).to.match(/#   TLS on \(minimum TLS1\.2\): CN=localhost/);
      for (const secret of [PUSH, READ, ADMIN, ALL, PASSWORD, "$2y$", "PRIVATE KEY"]) expect(r.stdout + r.stderr).not.to.contain(secret);
    });

    it("refuses to start with a hash htpasswd makes without -B, naming file and line", async () => {
      const md5 = path.join(dir, "md5-users");
      writeFileSync(md5, `${execFileSync("htpasswd", ["-nbB", "bob", "pw"]).toString().trim()}\n${execFileSync("htpasswd", ["-nbm", "carol", "pw"]).toString().trim()}\n`);
      const r = await runCli(["run"], { ENV_HTTP_BASIC_AUTH_USERS_FILE: md5, ENV_HTTP_LISTEN: "127.0.0.1:0" });
      expect(r.code).to.equal(2);
      expect(r.stderr).to.contain(`[http] basic_auth_users_file: ${md5}:2: user "carol" has an MD5 (apr1) hash, as htpasswd -m writes; only bcrypt hashes are accepted`);
    });

    it("refuses a certificate without its key, and a key that is not the certificate's", async () => {
      let r = await runCli(["check-config"], { ENV_HTTP_TLS_CERT_FILE: pki.certFile });
      expect(r.code).to.equal(2);
      expect(r.stderr).to.contain("[http] tls_cert_file is set but tls_key_file is not: set both or neither");
      r = await runCli(["check-config"], { ENV_HTTP_TLS_CERT_FILE: pki.certFile, ENV_HTTP_TLS_KEY_FILE: pki.clientKeyFile });
      expect(r.code).to.equal(2);
      expect(r.stderr).to.match(/\[http\] tls_cert_file\/tls_key_file: .* do not make a TLS context: .*key values mismatch/);
    });
  });

  describe("client certificates", () => {
    it("asks every route but the health checks for a certificate signed by tls_client_ca_file", async () => {
      const agent = await start(`tls_cert_file = ${q(pki.certFile)}\ntls_key_file = ${q(pki.keyFile)}\ntls_client_ca_file = ${q(pki.caFile)}`);
      const without = await send(`${agent.url}/metrics`, { ca: pki.ca });
      expect(`${without.status} ${without.body}`).to.equal("403 403 forbidden: a client certificate signed by a CA of [http] tls_client_ca_file is required\n");
      expect((await send(`${agent.url}/-/healthy`, { ca: pki.ca })).status).to.equal(200);
      const withCert = await new Promise<number>((resolve, reject) => {
        https.get(`${agent.url}/metrics`, { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey }, (res) => resolve(res.statusCode!)).on("error", reject);
      });
      expect(withCert).to.equal(200);
      // A certificate the CA did not sign (the server's own, self-presented) does not count.
      const foreign = makePki(mkdtempSync(path.join(dir, "other-")));
      const other = await new Promise<number>((resolve, reject) => {
        https.get(`${agent.url}/metrics`, { ca: pki.ca, cert: foreign.clientCert, key: foreign.clientKey }, (res) => resolve(res.statusCode!)).on("error", reject);
      });
      expect(other).to.equal(403);
    });
  });

  describe("browsers and rate limits, without credentials", () => {
    let agent: RunningTestAgent;
    before(async () => {
      agent = await start(`cors_allowed_origins = ["https://grafana.example.com"]\nrate_limit = 1\nrate_limit_burst = 3`);
    });

    it("refuses a write from a foreign origin and stores nothing of it", async () => {
      const evil = await send(`${agent.url}/metrics/job/victimjob`, { method: "POST", headers: { Origin: "http://evil.example", "Content-Type": "text/plain" }, body: 'csrf_injected{job="victimjob"} 666\n' });
      expect(evil.status).to.equal(403);
      expect(evil.body).to.contain('a POST from origin "http://evil.example" is refused');
      const metrics = await send(`${agent.url}/metrics`);
      expect(metrics.body).not.to.contain("csrf_injected");
      // The page's own origin (the status page's delete button) may write.
      const own = await send(`${agent.url}/metrics/job/victimjob`, { method: "DELETE", headers: { Origin: agent.url } });
      expect(own.status).to.equal(202);
    });

    it("sends no wildcard CORS; a listed origin may read the JSON API", async () => {
      const evil = await send(`${agent.url}/api/v1/metrics`, { headers: { Origin: "http://evil.example" } });
      expect(evil.status).to.equal(200);
      expect(evil.headers["access-control-allow-origin"]).to.equal(undefined);
      const listed = await send(`${agent.url}/api/v1/metrics`, { headers: { Origin: "https://grafana.example.com" } });
      expect(listed.headers["access-control-allow-origin"]).to.equal("https://grafana.example.com");
      expect(listed.headers.vary).to.equal("Origin");
      const preflight = await send(`${agent.url}/api/v1/metrics`, { method: "OPTIONS", headers: { Origin: "https://grafana.example.com", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization" } });
      expect(preflight.status).to.equal(204);
      expect(preflight.headers["access-control-allow-headers"]).to.contain("Authorization");
      const foreignPreflight = await send(`${agent.url}/api/v1/metrics`, { method: "OPTIONS", headers: { Origin: "http://evil.example", "Access-Control-Request-Method": "GET" } });
      expect(foreignPreflight.headers["access-control-allow-origin"]).to.equal(undefined);
    });

    it("sends hardening headers with every answer", async () => {
      for (const p of ["/metrics", "/api/v1/metrics", "/-/healthy", "/nothing"]) {
        const a = await send(`${agent.url}${p}`);
        expect(a.headers["x-content-type-options"], p).to.equal("nosniff");
        expect(a.headers["x-frame-options"], p).to.equal("DENY");
        expect(a.headers["content-security-policy"], p).to.equal("default-src 'none'; frame-ancestors 'none'");
      }
    });

    it("answers 429 with Retry-After over the push rate, per client address, and counts it", async () => {
      const statuses: number[] = [];
      let retryAfter: string | string[] | undefined;
      for (let i = 0; i < 6; i++) {
        const a = await send(`${agent.url}/metrics/job/rate`, { method: "PUT", body: "x 1\n" });
        statuses.push(a.status);
        if (a.status === 429) {
          retryAfter = a.headers["retry-after"];
          expect(a.body).to.contain("more than 1 pushes per second from this client address");
        }
      }
      // The earlier tests of this agent pushed twice within the second; the burst is 3.
      expect(statuses.filter((s) => s === 429).length).to.be.at.least(3);
      expect(statuses[0]).to.equal(200);
      expect(retryAfter).to.equal("1");
      // Reads are not limited.
      expect((await send(`${agent.url}/metrics`)).status).to.equal(200);
      const metrics = (await send(`${agent.url}/metrics`)).body;
      expect(metrics).to.match(/\npushkit_http_requests_refused_total\{reason="rate_limit"\} [3-9]\n/);
      expect(metrics).to.match(/\npushkit_http_requests_refused_total\{reason="origin"\} 1\n/);
    });
  });
});
