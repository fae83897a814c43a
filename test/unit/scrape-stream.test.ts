// The scrape side written in slices (store/scrape-order.ts, store/slices.ts, http/exposition.ts,
// http/api-json.ts, the status page's stream) against the one-go writers it replaces: the same
// bytes as render(gather(...)), goJson(jsonGroup(...)) and renderStatusPage() for every format and
// escaping scheme, over stores with shared names, label-value ties decided by timestamps, the
// agent's own families and aggregated groups, after every kind of change (new values, new series,
// new and deleted groups, a family added to an early group, refused pushes), so that what the
// scrape remembers from one answer to the next is checked too. And the work lets the event loop
// turn while it runs.
import { expect } from "chai";
import { prng } from "../../scripts/bench/bodies.ts";
import { Gauge, Registry } from "prom-client";
import { ESCAPING_SCHEMES } from "../../plugins/formats/prometheus/escaping.ts";
import { BODY_FORMATS } from "../../plugins/formats/prometheus/mediatypes.ts";
import type { MetricFamily } from "../../plugins/formats/prometheus/model.ts";
import { parseText } from "../../plugins/formats/prometheus/parse-text.ts";
import { render } from "../../plugins/formats/prometheus/write.ts";
import { AggregateRules, type AggregateRule } from "../../plugins/inputs/pushgateway/aggregate/rules.ts";
import { apiMetrics, goJson, jsonGroup } from "../../plugins/inputs/pushgateway/http/api-json.ts";
import { exposition, WrittenSources } from "../../plugins/inputs/pushgateway/http/exposition.ts";
import { GroupOrder, renderStatusPage, statusPageStream } from "../../plugins/inputs/pushgateway/http/status-page.ts";
import { ownFamilies } from "../../plugins/inputs/pushgateway/own-metrics.ts";
import { gather } from "../../plugins/inputs/pushgateway/store/gather.ts";
import { ScrapeOrder } from "../../plugins/inputs/pushgateway/store/scrape-order.ts";
import { Slicer, sortInSlices } from "../../plugins/inputs/pushgateway/store/slices.ts";
import { snapshot } from "../../plugins/inputs/pushgateway/store/snapshot.ts";
import { GroupStore, type Group } from "../../plugins/inputs/pushgateway/store/store.ts";

async function collect(gen: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of gen) parts.push(c);
  return Buffer.concat(parts);
}

function newStore(): GroupStore {
  return new GroupStore({ consistency_check: true, reject_timestamps: false, max_groups: 0 });
}

function put(store: GroupStore, labels: Record<string, string>, body: string, timeMs: number, replaceAll = true): void {
  store.apply({ replaceAll, grouping: new Map(Object.entries(labels)), families: parseText(Buffer.from(body, "utf8"), { names: "utf8" }), timeMs });
}

/** A group's push: families shared with other groups, label values from small pools (so that they interleave and tie), unsorted. */
function randomBody(rnd: () => number, round: number): string {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)];
  const lines: string[] = [];
  for (const name of ["shared_total", "temp", "lat", "size", "only_here", "my.dotted"]) {
    if (rnd() < 0.3) continue;
    const type = name === "lat" ? "summary" : name === "size" ? "histogram" : name === "shared_total" ? "counter" : "gauge";
    const quoted = name.includes(".") ? `"${name}"` : name;
    if (rnd() < 0.5) lines.push(`# HELP ${quoted} Help of ${name} in round ${round}.`);
    lines.push(`# TYPE ${quoted} ${type}`);
    const seen = new Set<string>();
    const count = 1 + Math.floor(rnd() * 5);
    for (let i = 0; i < count; i++) {
      // Two label names with the same values: a tie on label values, decided by timestamps.
      const labelName = pick(["a", "b", "é"]);
      const value = pick(["1", "10", "2", "x", "Προ", ""]);
      const key = `${labelName}=${value}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const ts = rnd() < 0.3 ? ` ${1_700_000_000_000 + Math.floor(rnd() * 3)}` : "";
      const labels = `${labelName === "é" ? '"é"' : labelName}="${value}"`;
      const v = pick(["1", "-2.5", "NaN", "+Inf", "1e+21", "0.001", String(Math.floor(rnd() * 1e6))]);
      if (type === "summary") lines.push(`lat{${labels},quantile="0.5"} ${v}${ts}`, `lat_sum{${labels}} 3${ts}`, `lat_count{${labels}} 2${ts}`);
      else if (type === "histogram") lines.push(`size_bucket{${labels},le="1"} 1${ts}`, `size_bucket{${labels},le="+Inf"} 2${ts}`, `size_sum{${labels}} 1.5${ts}`, `size_count{${labels}} 2${ts}`);
      else if (name.includes(".")) lines.push(`{${quoted},${labels}} ${v}${ts}`);
      else lines.push(`${name}{${labels}} ${v}${ts}`);
    }
  }
  // Always a tie on label values within the group, decided by the timestamps (or their absence).
  const ts = () => pick(["", " 1700000000001", " 1700000000002"]);
  lines.push("# TYPE tied gauge", `tied{a="1"} 1${ts()}`, `tied{b="1"} 2${ts()}`);
  return lines.join("\n") + "\n";
}

const RULES = new AggregateRules([{ jobs: ["agg*"], drop_labels: ["instance"], gauges: "sum", honor_timestamps: false }] as never);
const ruleOf = (g: Group): AggregateRule | undefined => RULES.ruleForGroup(g.labels);
const ruleIdOf = (g: Group) => ruleOf(g)?.id;

/** The agent's own families, one of them named as pushed families are (a test store reserves no names). */
async function own(value: number): Promise<MetricFamily[]> {
  const registry = new Registry();
  new Gauge({ name: "temp", help: "Own temp.", registers: [registry] }).set(value);
  new Gauge({ name: "zz_own", help: "Own.", labelNames: ["k"], registers: [registry] }).labels("v").set(value);
  return ownFamilies(registry);
}

/** Checks every answer written in slices against the one-go writers. */
async function checkAll(store: GroupStore, order: ScrapeOrder, written: WrittenSources, extra: MetricFamily[], what: string): Promise<void> {
  const expected = gather(store.all(), extra, ruleIdOf);
  for (const format of BODY_FORMATS) {
    for (const escaping of ESCAPING_SCHEMES) {
      const slicer = new Slicer();
      const gathered = await order.gather(snapshot(store.all()), extra, slicer);
      const got = await collect(exposition(gathered, { format, escaping }, written, slicer));
      const want = Buffer.from(render(expected, format, escaping));
      expect(got.equals(want), `${what}: ${format}, escaping=${escaping}\n${got.toString().slice(0, 2000)}\n---\n${want.toString().slice(0, 2000)}`).to.equal(true);
    }
  }
  const json = await collect(apiMetrics(snapshot(store.all()), ruleOf, new Slicer()));
  expect(json.toString(), `${what}: /api/v1/metrics`).to.equal(goJson({ status: "success", data: [...store.all()].map((g) => jsonGroup(g, ruleOf(g))) }));
}

describe("scrape answers written in slices", () => {
  it("are render(gather()) byte for byte in every format and escaping scheme, through every kind of change", async () => {
    const rnd = prng(7);
    const store = newStore();
    const order = new ScrapeOrder(ruleIdOf);
    const written = new WrittenSources();
    const jobs = ["j1", "j2", "agg1", "j3"];
    const labelsOf = (k: number) => ({ job: jobs[k % jobs.length], instance: `i${k}` });
    for (let k = 0; k < 12; k++) put(store, labelsOf(k), randomBody(rnd, 0), 1_000 + k);
    await checkAll(store, order, written, await own(1), "filled");
    for (let round = 1; round <= 8; round++) {
      const k = Math.floor(rnd() * 14);
      const step = round % 4;
      try {
        if (step === 0) put(store, labelsOf(k), randomBody(rnd, round), 2_000 + round);
        // A family added to a group early in the store's order (POST).
        else if (step === 1) put(store, labelsOf(0), `# TYPE temp gauge\ntemp{c="${round}"} ${round}\n`, 2_000 + round, false);
        else if (step === 2) store.delete(new Map(Object.entries(labelsOf(k))));
        else put(store, labelsOf(k), "# TYPE temp counter\ntemp 1\n", 2_000 + round); // refused: temp is a gauge elsewhere
      } catch {
        // A refused push: only its group's failure time changed.
      }
      await checkAll(store, order, written, await own(round), `round ${round} (step ${step}, group ${k})`);
    }
  });

  it("serve the same values again with new ones written where a push changed them (same series)", async () => {
    const store = newStore();
    const order = new ScrapeOrder();
    const written = new WrittenSources();
    // t{a} and t{b} tie on label values: their timestamps order them, and change with the values.
    const body = (k: number, round: number) => `# TYPE g gauge\ng{x="${k % 7}"} ${k * round}\ng{x="${k % 5}",y="1"} ${round}\nt{a="1"} 1 ${1000 + ((k + round) % 3)}\nt{b="1"} 1 ${1001}\n`;
    for (let k = 0; k < 50; k++) put(store, { job: "j", instance: `i${k}` }, body(k, 0), 1000);
    await checkAll(store, order, written, [], "first");
    for (let round = 1; round < 4; round++) {
      // Pushed in the same millisecond as the last push: only the values tell the change.
      for (let k = 0; k < 50; k += 3) put(store, { job: "j", instance: `i${k}` }, body(k, round), 1000);
      await checkAll(store, order, written, [], `round ${round}`);
    }
  });

  it("give the status page as renderStatusPage() does", async () => {
    const store = newStore();
    const rnd = prng(3);
    for (let k = 0; k < 40; k++) put(store, { job: ["b", "a", "agg", "é"][k % 4], [["instance", "zone", "x"][k % 3]]: `v${Math.floor(rnd() * 1000)}` }, k % 5 === 0 ? "" : "m 1\nn 2\n", 1000 + k);
    const order = new GroupOrder();
    for (let round = 0; round < 3; round++) {
      if (round > 0) put(store, { job: "new", instance: String(round) }, "m 1\n", 5000);
      const page = await collect(statusPageStream("/pg", snapshot(store.all()), 1234, ruleOf, order, new Slicer()));
      expect(page.toString()).to.equal(renderStatusPage("/pg", store.all(), 1234, ruleOf));
    }
  });

  it("let the event loop turn while a large answer is written", async () => {
    const store = newStore();
    let body = "# TYPE big gauge\n";
    for (let i = 0; i < 15_000; i++) body += `big{a="${(i * 7919) % 15_000}"} ${i}\n`;
    for (let k = 0; k < 4; k++) put(store, { job: "j", instance: `i${k}` }, body, 1000);
    let turns = 0;
    const timer = setInterval(() => turns++, 0);
    try {
      const slicer = new Slicer();
      const gathered = await new ScrapeOrder().gather(snapshot(store.all()), [], slicer);
      const text = await collect(exposition(gathered, { format: "text", escaping: "underscores" }, new WrittenSources(), slicer));
      // 60,000 series, the two gauges of each of the 4 groups, 3 TYPE and 2 HELP lines, the last newline.
      expect(text.toString().split("\n").length).to.equal(60_000 + 8 + 3 + 2 + 1);
      // Timers ran while it was written: the work was cut into many slices.
      expect(turns).to.be.greaterThan(5);
    } finally {
      clearInterval(timer);
    }
  });

  it("sort in slices as Array.prototype.sort does, stable", async () => {
    const rnd = prng(11);
    for (const n of [0, 1, 2, 2047, 2048, 2049, 4096 * 3 + 5, 20_000]) {
      const keys = Array.from({ length: n }, () => Math.floor(rnd() * (n / 4 + 1)));
      const cmp = (a: number, b: number) => keys[a] - keys[b];
      const want = Array.from(keys.keys()).sort(cmp);
      expect(Array.from(await sortInSlices(n, cmp, new Slicer())), `n=${n}`).to.deep.equal(want);
      const sortedKeys = keys.slice().sort((a, b) => a - b);
      expect(Array.from(await sortInSlices(n, (a, b) => sortedKeys[a] - sortedKeys[b], new Slicer())), `sorted, n=${n}`).to.deep.equal(Array.from(sortedKeys.keys()));
    }
  });

  it("stop at the next pause once the client has gone", async () => {
    const stop = new AbortController();
    const slicer = new Slicer(stop.signal, 0);
    stop.abort();
    let caught: unknown;
    try {
      await sortInSlices(10_000, (a, b) => b - a, slicer);
    } catch (e) {
      caught = e;
    }
    expect((caught as Error)?.name).to.equal("SliceAborted");
  });
});
