// The pushgateway input's status page (GET P/ and P/status) in a real browser: a real agent is
// pushed several groups (a value holding "/" through @base64, a group whose last push was
// refused, a label value holding markup), the page is opened in Debian's Chromium (driven by
// playwright-core, which downloads nothing) and the rendered DOM is checked against what was
// pushed and against GET P/api/v1/metrics; then a group's "Delete group" button is clicked and
// the reloaded page, P/metrics and the JSON API must all have lost that group, and only it.
//
// Chromium is installed by scripts/setup-peers.sh (npm test's pretest). Without it this test
// fails; it never skips. STATUS_PAGE_SCREENSHOT=<file> changes where the screenshot goes.
import { expect } from "chai";
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { startTestAgent, type RunningTestAgent } from "../support/agent.ts";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const SCREENSHOT = process.env.STATUS_PAGE_SCREENSHOT ?? "/tmp/status-page.png";

/** The label value that needs @base64 (it holds "/"); its group is the one deleted. */
const SLASH_VALUE = "/var/tmp/backup";
/** A label value that would run if the page did not escape it (it holds "/" too). */
const MARKUP_VALUE = `<script>alert("pwned")</script><b id="injected">x</b>&amp;'`;

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64url");

interface PushAnswer {
  status: number;
  text: string;
}

async function send(method: string, url: string, body?: string): Promise<PushAnswer> {
  const res = await fetch(url, { method, body });
  return { status: res.status, text: await res.text() };
}

interface Row {
  labels: string[];
  labelsText: string;
  pushTime: string;
  failureTime: string;
  familyCount: string;
  families: string[];
  path: string;
  failed: boolean;
  failureColor: string;
}

/**
 * Every group row as the browser rendered it. (No named function inside: tsx compiles those
 * with a `__name` helper that does not exist in the page.)
 */
function readRows(page: Page): Promise<Row[]> {
  return page.$$eval("#groups tbody tr.group", (trs) =>
    trs.map((tr) => ({
      labels: [...tr.querySelectorAll("td.labels .label")].map((e) => e.textContent ?? ""),
      labelsText: tr.querySelector("td.labels")?.textContent ?? "",
      pushTime: (tr.querySelector("td.push-time")?.textContent ?? "").trim(),
      failureTime: (tr.querySelector("td.failure-time")?.textContent ?? "").trim(),
      familyCount: (tr.querySelector("td.families summary")?.textContent ?? "").trim(),
      families: [...tr.querySelectorAll("td.families li")].map((e) => e.textContent ?? ""),
      path: (tr as HTMLElement).dataset.path ?? "",
      failed: tr.classList.contains("failed"),
      failureColor: getComputedStyle(tr.querySelector("td.failure-time")!).color,
    })),
  );
}

/** The row whose labels are exactly these (as `name="value"` texts, sorted by name). */
function rowOf(rows: Row[], labels: [string, string][]): Row {
  const want = labels.map(([n, v]) => `${n}="${v}"`);
  const found = rows.filter((r) => JSON.stringify(r.labels) === JSON.stringify(want));
  expect(found, `rows with labels ${want.join(" ")} among ${JSON.stringify(rows.map((r) => r.labels))}`).to.have.length(1);
  return found[0];
}

interface ApiGroup {
  labels: Record<string, string>;
  last_push_successful: boolean;
  push_time_seconds: { metrics: { value: string }[] };
  push_failure_time_seconds: { metrics: { value: string }[] };
  [family: string]: unknown;
}

async function apiGroups(base: string): Promise<ApiGroup[]> {
  const res = await fetch(`${base}/api/v1/metrics`);
  expect(res.status).to.equal(200);
  const body = (await res.json()) as { status: string; data: ApiGroup[] };
  expect(body.status).to.equal("success");
  return body.data;
}

function apiGroupOf(groups: ApiGroup[], labels: Record<string, string>): ApiGroup | undefined {
  return groups.find((g) => JSON.stringify(Object.entries(g.labels).sort()) === JSON.stringify(Object.entries(labels).sort()));
}

/** ms since the epoch of an ISO time the page shows; fails on anything else. */
function isoMs(text: string): number {
  expect(text, "an ISO 8601 UTC time").to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  return Date.parse(text);
}

describe("pushgateway status page in Chromium (integration)", function () {
  this.timeout(60_000);

  let browser: Browser | undefined;
  let screenshotTaken = false;

  before(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: the status page is tested in Debian's Chromium, installed by scripts/setup-peers.sh (run as root; npm test's pretest runs it)`);
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
  });

  for (const prefix of ["/v1/pushgateway", ""]) {
    describe(`with route_prefix = ${JSON.stringify(prefix)}`, () => {
      let agent: RunningTestAgent | undefined;
      let page: Page | undefined;
      let base = "";
      const dialogs: string[] = [];
      const pageErrors: string[] = [];
      let startedMs = 0;
      let refusedAtMs = 0;
      let refusedBeforeMs = 0;

      const G_BATCH: [string, string][] = [
        ["instance", "a"],
        ["job", "batch"],
      ];
      const G_BACKUP: [string, string][] = [
        ["job", "backup"],
        ["path", SLASH_VALUE],
      ];
      const G_CLASH: [string, string][] = [
        ["instance", "c"],
        ["job", "clash"],
      ];
      const G_MARKUP: [string, string][] = [
        ["evil", MARKUP_VALUE],
        ["job", "xss"],
      ];
      const all = [G_BATCH, G_BACKUP, G_CLASH, G_MARKUP];

      before(async () => {
        agent = await startTestAgent({
          conf: { "inputs/pushgateway.conf": `[[inputs.pushgateway]]\nroute_prefix = ${JSON.stringify(prefix)}\n` },
        });
        base = `${agent.url}${prefix}`;
        startedMs = Date.now();

        const ok = (a: PushAnswer, what: string) => expect(a, what).to.deep.equal({ status: 200, text: "" });
        ok(
          await send(
            "PUT",
            `${base}/metrics/job/batch/instance/a`,
            "# TYPE jobs_total counter\njobs_total 7\n# TYPE job_duration_seconds gauge\njob_duration_seconds 1.5\n# TYPE job_last_success gauge\njob_last_success 1.7e9\n",
          ),
          "batch push",
        );
        ok(await send("PUT", `${base}/metrics/job/backup/path@base64/${b64(SLASH_VALUE)}`, "# TYPE backup_bytes gauge\nbackup_bytes 1024\n"), "backup push");
        ok(await send("PUT", `${base}/metrics/job/clash/instance/c`, "# TYPE clash_up gauge\nclash_up 1\n"), "clash push");
        ok(await send("PUT", `${base}/metrics/job@base64/${b64("xss")}/evil@base64/${b64(MARKUP_VALUE)}`, "# TYPE xss_up gauge\nxss_up 1\n"), "markup push");

        // jobs_total is a counter in the batch group: the same name as a gauge is refused, and
        // only the clash group's failure time changes.
        await new Promise((r) => setTimeout(r, 5)); // a failure time distinct from the push times
        refusedBeforeMs = Date.now();
        const refused = await send("POST", `${base}/metrics/job/clash/instance/c`, "# TYPE jobs_total gauge\njobs_total 3\n");
        refusedAtMs = Date.now();
        expect(refused.status, refused.text).to.equal(400);
        expect(refused.text).to.match(/^pushed metrics are invalid or inconsistent with existing metrics: /);

        page = await browser!.newPage({ viewport: { width: 1200, height: 700 } });
        page.on("dialog", (d) => {
          dialogs.push(`${d.type()}: ${d.message()}`);
          void d.dismiss();
        });
        page.on("pageerror", (e) => pageErrors.push(String(e)));
      });

      after(async () => {
        await page?.close().catch(() => undefined);
        if (agent) {
          await Promise.race([agent.stop(), new Promise((r) => setTimeout(r, 5000))]);
          agent.cleanup();
        }
      });

      it("serves the page as HTML at P/ and P/status", async () => {
        for (const path of [`${prefix}/`, `${prefix}/status`]) {
          const res = await fetch(`${agent!.url}${path}`);
          expect(res.status, path).to.equal(200);
          expect(res.headers.get("content-type"), path).to.equal("text/html; charset=utf-8");
          expect(await res.text(), path).to.match(/^<!doctype html>/);
        }
      });

      it("lists every group with its labels, push and failure times and families", async () => {
        const res = await page!.goto(`${base}/`);
        expect(res?.status()).to.equal(200);
        expect(await page!.title()).to.equal("pushkit: pushed groups");
        const now = Date.now();
        expect(await page!.textContent("#summary")).to.match(/^4 groups, as of \d{4}-\d\d-\d\dT[\d:.]+Z\.$/);

        const rows = await readRows(page!);
        expect(rows).to.have.length(4);
        const api = await apiGroups(base);
        expect(api).to.have.length(4);

        for (const labels of all) {
          const row = rowOf(rows, labels);
          const what = JSON.stringify(labels);
          // Push time: an ISO time between the agent's start and now, the very instant the
          // API gives (push_time_seconds).
          const pushed = isoMs(row.pushTime);
          expect(pushed, `push time of ${what}`).to.be.within(startedMs - 1000, now);
          const apiGroup = apiGroupOf(api, Object.fromEntries(labels));
          expect(apiGroup, `API group ${what}`).to.not.equal(undefined);
          expect(Math.round(Number(apiGroup!.push_time_seconds.metrics[0].value) * 1000), `API push time of ${what}`).to.equal(pushed);
          // The delete URL: the prefix, every value in base64.
          const expectedPath =
            `${prefix}/metrics/job@base64/${b64(labels.find(([n]) => n === "job")![1])}` +
            labels
              .filter(([n]) => n !== "job")
              .map(([n, v]) => `/${n}@base64/${b64(v)}`)
              .join("");
          expect(row.path, `data-path of ${what}`).to.equal(expectedPath);
        }

        const batch = rowOf(rows, G_BATCH);
        expect(batch.labels).to.deep.equal(['instance="a"', 'job="batch"']);
        expect(batch.familyCount).to.equal("3");
        expect(batch.families).to.deep.equal(["job_duration_seconds", "job_last_success", "jobs_total"]);
        expect(batch.failureTime).to.equal("never");
        expect(batch.failed).to.equal(false);

        const backup = rowOf(rows, G_BACKUP);
        expect(backup.labels).to.deep.equal(['job="backup"', `path="${SLASH_VALUE}"`]);
        expect(backup.familyCount).to.equal("1");
        expect(backup.families).to.deep.equal(["backup_bytes"]);
        expect(backup.failureTime).to.equal("never");

        // The refused push: a failure time at that push, later than the (unchanged) push time,
        // and the row marked (the failure time shown in red).
        const clash = rowOf(rows, G_CLASH);
        const failedAt = isoMs(clash.failureTime);
        expect(failedAt).to.be.within(refusedBeforeMs, refusedAtMs);
        expect(failedAt).to.be.greaterThan(isoMs(clash.pushTime));
        expect(clash.failed).to.equal(true);
        expect(clash.failureColor).to.equal("rgb(187, 0, 0)");
        expect(clash.familyCount).to.equal("1");
        expect(clash.families).to.deep.equal(["clash_up"]);
        const clashApi = apiGroupOf(api, Object.fromEntries(G_CLASH))!;
        expect(clashApi.last_push_successful).to.equal(false);
        expect(Math.round(Number(clashApi.push_failure_time_seconds.metrics[0].value) * 1000)).to.equal(failedAt);
        for (const labels of [G_BATCH, G_BACKUP, G_MARKUP]) {
          expect(rowOf(rows, labels).failed, JSON.stringify(labels)).to.equal(false);
          expect(apiGroupOf(api, Object.fromEntries(labels))!.push_failure_time_seconds.metrics[0].value).to.equal("0");
        }

        // The families are in a collapsed <details>; opened, the names show.
        await page!.locator("tr.group", { hasText: 'job="batch"' }).locator("summary").click();
        expect(await page!.locator("tr.group", { hasText: 'job="batch"' }).locator("li").first().isVisible()).to.equal(true);

        // P/status is the same page.
        await page!.goto(`${base}/status`);
        expect(await readRows(page!)).to.deep.equal(rows);
      });

      it("escapes label values: markup shows as text and runs nothing", async () => {
        await page!.goto(`${base}/`);
        const row = rowOf(await readRows(page!), G_MARKUP);
        expect(row.labels).to.deep.equal([`evil="${MARKUP_VALUE}"`, 'job="xss"']);
        expect(row.labelsText).to.include(MARKUP_VALUE);
        // No element came out of the value: the page's own script is the only one.
        expect(await page!.locator("#injected").count()).to.equal(0);
        expect(await page!.locator("#groups script, #groups b").count()).to.equal(0);
        expect(await page!.locator("script").count()).to.equal(1);
        expect(dialogs).to.deep.equal([]);
        expect(pageErrors).to.deep.equal([]);
        // The raw HTML holds the escaped forms.
        const raw = await (await fetch(`${base}/`)).text();
        expect(raw).to.include("&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;&lt;b id=&quot;injected&quot;&gt;x&lt;/b&gt;&amp;amp;&#39;");
        expect(raw.match(/<script>/g)).to.have.length(1);

        if (!screenshotTaken) {
          // Open every family list so that the screenshot shows them.
          await page!.$$eval("details", (ds) => ds.forEach((d) => ((d as HTMLDetailsElement).open = true)));
          await page!.screenshot({ path: SCREENSHOT, fullPage: true });
          screenshotTaken = true;
        }
      });

      it("deletes the group holding a '/' value with its button, and only that group", async () => {
        const before = await (await fetch(`${base}/metrics`)).text();
        expect(before).to.include(`backup_bytes{instance="",job="backup",path="${SLASH_VALUE}"} 1024`);
        expect(before).to.include(`push_time_seconds{instance="",job="backup",path="${SLASH_VALUE}"}`);

        await page!.goto(`${base}/`);
        const asOfBefore = await page!.textContent("#summary");
        // Tell the reloaded document from this one.
        await page!.evaluate(() => ((window as unknown as { marker: number }).marker = 1));
        const button = page!.locator("tr.group", { hasText: `path="${SLASH_VALUE}"` }).locator("button.delete");
        expect(await button.count()).to.equal(1);
        expect(await button.textContent()).to.equal("Delete group");
        // The button sends DELETE to the group's URL and, on 202, reloads the page.
        const loaded = page!.waitForEvent("load", { timeout: 10_000 });
        loaded.catch(() => undefined); // awaited below only when the DELETE succeeded
        const [res] = await Promise.all([page!.waitForResponse((r) => r.request().method() === "DELETE", { timeout: 10_000 }), button.click()]);
        // A 202's (empty) body cannot be read once the page has reloaded; a refusal's can.
        const body = res.status() === 202 ? "" : await res.text().catch((e: Error) => `(body unreadable: ${e.message})`);
        expect({ url: res.url(), status: res.status(), body }).to.deep.equal({
          url: `${base}/metrics/job@base64/${b64("backup")}/path@base64/${b64(SLASH_VALUE)}`,
          status: 202,
          body: "",
        });
        await loaded;
        await page!.waitForFunction(() => (window as unknown as { marker?: number }).marker === undefined, undefined, { timeout: 10_000 });
        expect(dialogs, "alert from a failed delete").to.deep.equal([]);
        expect(page!.url()).to.equal(`${base}/`);
        expect(await page!.textContent("#summary")).to.match(/^3 groups, as of /).and.not.equal(asOfBefore);

        const rows = await readRows(page!);
        expect(rows).to.have.length(3);
        expect(rows.some((r) => r.labelsText.includes(SLASH_VALUE))).to.equal(false);
        expect(await page!.locator("tr.group", { hasText: 'job="backup"' }).count()).to.equal(0);
        for (const labels of [G_BATCH, G_CLASH, G_MARKUP]) rowOf(rows, labels);
        expect(rowOf(rows, G_CLASH).failed).to.equal(true);

        const after = await (await fetch(`${base}/metrics`)).text();
        expect(after).to.not.include("backup_bytes");
        expect(after).to.not.include('job="backup"');
        expect(after).to.include('jobs_total{instance="a",job="batch"} 7');
        expect(after).to.include('job_duration_seconds{instance="a",job="batch"} 1.5');
        expect(after).to.include('clash_up{instance="c",job="clash"} 1');
        expect(after).to.match(/\nxss_up\{evil="<script>alert\(\\"pwned\\"\)<\/script><b id=\\"injected\\">x<\/b>&amp;'",instance="",job="xss"\} 1\n/);
        for (const job of ["batch", "clash", "xss"]) expect(after).to.match(new RegExp(`\\npush_time_seconds\\{[^}]*job="${job}"[^}]*\\} \\d`));

        const api = await apiGroups(base);
        expect(api).to.have.length(3);
        expect(apiGroupOf(api, Object.fromEntries(G_BACKUP))).to.equal(undefined);
        for (const labels of [G_BATCH, G_CLASH, G_MARKUP]) expect(apiGroupOf(api, Object.fromEntries(labels)), JSON.stringify(labels)).to.not.equal(undefined);
        expect(pageErrors).to.deep.equal([]);
      });
    });
  }
});
