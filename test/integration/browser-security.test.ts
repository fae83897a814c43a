// What web pages can do to an agent, tried in Debian's Chromium (playwright-core): the status
// page served over TLS behind basic auth, with its security headers, no policy violation and a
// working delete button; a page of another origin that tries to inject a push (a "simple"
// cross-origin POST, the browser holding the user's credentials), to read the JSON API and to
// frame the status page; and a dashboard of a listed origin that may read the JSON API.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { chromium, type Browser, type BrowserContext } from "playwright-core";
import { defaultAgentConf, startTestAgent, type RunningTestAgent } from "../support/agent.ts";
import { freePort, poll } from "../support/backends.ts";
import { makePki, type TestPki } from "../support/tls.ts";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const USER = "alice";
const PASSWORD = "wonderland-9c1f";
/** The dashboard's token may only read; its requests need a CORS preflight (they carry Authorization). */
const DASHBOARD_TOKEN = "dashboard-0123456789abcdef";

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(pki: TestPki, url: string, o: { method?: string; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: o.method ?? "GET", ca: pki.ca, auth: `${USER}:${PASSWORD}` }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(o.body);
  });
}

/** A site of its own origin serving one page. */
async function site(html: string): Promise<{ origin: string; close(): void }> {
  const port = await freePort();
  const server = http.createServer((_, res) => {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(html);
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return { origin: `http://127.0.0.1:${port}`, close: () => server.close() };
}

describe("browser security in Chromium (integration)", function () {
  this.timeout(60_000);
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let agent: RunningTestAgent | undefined;
  let pki: TestPki;
  let dir = "";
  let dashboardOrigin = "";
  let dashboard: { origin: string; close(): void } | undefined;
  const closers: (() => void)[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: installed by scripts/setup-peers.sh (npm test's pretest)`);
    dir = mkdtempSync(path.join(tmpdir(), "pushkit-browser-security-"));
    pki = makePki(dir);
    writeFileSync(path.join(dir, "users"), execFileSync("htpasswd", ["-nbB", USER, PASSWORD]));
    writeFileSync(path.join(dir, "tokens"), `${DASHBOARD_TOKEN} read\n`);
    // The dashboard page reads the JSON API with the user's credentials and shows what it got.
    dashboard = await site(`<!doctype html><pre id="out">pending</pre><script>
fetch(location.hash.slice(1) + "/api/v1/metrics", { headers: { Authorization: "Bearer ${DASHBOARD_TOKEN}" } })
  .then((r) => r.json()).then((j) => (document.getElementById("out").textContent = "read " + j.data.length + " groups"))
  .catch((e) => (document.getElementById("out").textContent = "failed: " + e));
</script>`);
    closers.push(dashboard.close);
    dashboardOrigin = dashboard.origin;
    const pointsFile = path.join(dir, "points.lp");
    agent = await startTestAgent({
      conf: {
        "agent.conf": defaultAgentConf(pointsFile).replace(
          "[http]\n",
          `[http]\ntls_cert_file = ${JSON.stringify(pki.certFile)}\ntls_key_file = ${JSON.stringify(pki.keyFile)}\nbasic_auth_users_file = ${JSON.stringify(path.join(dir, "users"))}\nbearer_tokens_file = ${JSON.stringify(path.join(dir, "tokens"))}\ncors_allowed_origins = [${JSON.stringify(dashboardOrigin)}]\n`,
        ),
        "inputs/pushgateway.conf": "[[inputs.pushgateway]]\n",
      },
    });
    expect(agent.url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
    const pushed = await request(pki, `${agent.url}/metrics/job/batch/instance/a`, { method: "PUT", body: "# TYPE jobs_total counter\njobs_total 7\n" });
    expect(pushed.status, pushed.body).to.equal(200);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    // The user's browser: it trusts nothing but answers the agent's basic-auth challenge.
    context = await browser.newContext({ ignoreHTTPSErrors: true, httpCredentials: { username: USER, password: PASSWORD } });
  });

  after(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close();
    for (const c of closers) c();
    if (agent) {
      await Promise.race([agent.stop(), new Promise((r) => setTimeout(r, 5000))]);
      agent.cleanup();
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("serves the status page with a strict policy under which its own script and style work", async () => {
    const page = await context!.newPage();
    const violations: string[] = [];
    page.on("console", (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
    });
    const res = await page.goto(`${agent!.url}/`);
    expect(res?.status()).to.equal(200);
    const h = res!.headers();
    expect(h["content-security-policy"]).to.match(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'; script-src 'sha256-[A-Za-z0-9+/=]+'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'$/);
    expect(h["x-frame-options"]).to.equal("DENY");
    expect(h["x-content-type-options"]).to.equal("nosniff");
    expect(await page.locator("tr.group").count()).to.equal(1);
    // The stylesheet applied (a blocked one would leave the default margin of 8px).
    expect(await page.evaluate(() => getComputedStyle(document.body).margin)).to.equal("32px");

    const loaded = page.waitForEvent("load");
    const [del] = await Promise.all([page.waitForResponse((r) => r.request().method() === "DELETE"), page.locator("button.delete").click()]);
    expect(del.status()).to.equal(202);
    await loaded;
    expect(await page.textContent("#summary")).to.match(/^0 groups/);
    expect(violations).to.deep.equal([]);
    await page.close();
  });

  it("refuses a push that a page of another origin sends with the user's credentials, and lets it read nothing", async () => {
    const victim = `${agent!.url}/metrics/job/victimjob`;
    const evil = await site(`<!doctype html><pre id="out">pending</pre><script>
const out = [];
fetch(${JSON.stringify(victim)}, { method: "POST", mode: "no-cors", credentials: "include", headers: { "Content-Type": "text/plain" }, body: 'csrf_injected{job="victimjob"} 666\\n' })
  .then(() => out.push("post sent"), (e) => out.push("post failed"))
  .then(() => fetch(${JSON.stringify(agent!.url + "/api/v1/metrics")}, { credentials: "include" }))
  .then((r) => r.text().then((t) => out.push("read " + t.length)), (e) => out.push("read blocked"))
  .then(() => (document.getElementById("out").textContent = out.join(", ")));
</script>`);
    closers.push(evil.close);
    const page = await context!.newPage();
    await page.goto(evil.origin);
    await page.waitForFunction(() => document.getElementById("out")?.textContent !== "pending");
    expect(await page.textContent("#out")).to.equal("post sent, read blocked");
    await page.close();

    const scrape = await request(pki, `${agent!.url}/metrics`);
    expect(scrape.body).not.to.contain("csrf_injected");
    expect(scrape.body).to.match(/\npushkit_http_requests_refused_total\{reason="origin"\} [1-9]/);
  });

  it("cannot be framed by another page", async () => {
    const framing = await site(`<!doctype html><iframe id="f" src="${agent!.url}/"></iframe>`);
    closers.push(framing.close);
    const page = await context!.newPage();
    const blocked: string[] = [];
    page.on("console", (m) => {
      if (/frame|ancestor/i.test(m.text())) blocked.push(m.text());
    });
    await page.goto(framing.origin);
    await poll("the frame to be refused", async () => (blocked.length > 0 ? true : undefined), 10_000);
    const frame = page.frames().find((f) => f !== page.mainFrame());
    expect(await frame?.locator("tr.group, #summary").count().catch(() => 0)).to.equal(0);
    await page.close();
  });

  it("lets a dashboard of a listed origin read the JSON API with its token (after a preflight)", async () => {
    await request(pki, `${agent!.url}/metrics/job/dash`, { method: "PUT", body: "up 1\n" });
    const page = await context!.newPage();
    await page.goto(`${dashboardOrigin}/#${agent!.url}`);
    await page.waitForFunction(() => document.getElementById("out")?.textContent !== "pending");
    expect(await page.textContent("#out")).to.equal("read 1 groups");
    await page.close();
  });
});
