import { expect } from "chai";
import { pino } from "pino";
import { BodyParseError } from "../../plugins/formats/prometheus/model.ts";
import { LineEncoder, LineWriter } from "../../core/lineprotocol.ts";
import { Converter, type ConvertOptions } from "../../plugins/formats/prometheus/convert.ts";
import { readdirSync, readFileSync } from "node:fs";
import { getPriority } from "node:os";
import { ParsePool } from "../../plugins/inputs/pushgateway/ingest/parse-pool.ts";
import { WORKER_NICE } from "../../plugins/inputs/pushgateway/ingest/worker-priority.ts";
import { parseBody } from "../../plugins/formats/prometheus/parse.ts";
import type { PushedFamily } from "../../plugins/inputs/pushgateway/store/pushed-family.ts";

const options: ConvertOptions = { measurement_name: "", job_as_measurement: false, keep_exist_metric_name: false, honor_timestamps: true, tags: { dc: "eu" } };

function body(): Buffer {
  const lines = ["# TYPE rpc_latency_seconds histogram"];
  for (let s = 0; s < 200; s++) {
    for (const le of ["0.005", "0.1", "1", "+Inf"]) lines.push(`rpc_latency_seconds_bucket{svc="s${s}",le="${le}"} ${s}`);
    lines.push(`rpc_latency_seconds_sum{svc="s${s}"} ${s * 0.25}`, `rpc_latency_seconds_count{svc="s${s}"} ${s}`);
  }
  lines.push("# TYPE up gauge", "up 1 1700000000000", 'odd{label="with space, comma=and \\"quote\\""} NaN', 'odd{label="ok"} -Inf', 'odd{label="x"} 2');
  return Buffer.from(lines.join("\n") + "\n");
}

describe("parse workers", function () {
  this.timeout(20_000);
  let pool: ParsePool;
  before(() => {
    pool = new ParsePool(2, { convert: options, parse: {} }, pino({ level: "silent" }));
  });
  after(() => pool.close());

  const grouping = new Map([["job", "batch"], ["instance", "i1"]]);
  const received = 1700000000999000000n;

  function inline(b: Buffer): string {
    const points = new Converter(options).convert(parseBody(b, "text"), grouping, received);
    return Buffer.concat(new LineEncoder().encodeChunks(points)).toString();
  }

  it("hand back several megabytes of line protocol, moved in the buffers they filled, intact", async () => {
    const lines: string[] = [];
    for (let i = 0; i < 40_000; i++) lines.push(`wide_bytes_total{host="h${i % 97}",path="/p/${i}"} ${i * 1.5}`);
    const b = Buffer.from(lines.join("\n") + "\n");
    const expected = inline(b); // before run(): the body moves to the worker
    const { batch } = await pool.run(b, "text", grouping, received);
    const chunks = batch.lineProtocol();
    expect(new Set(chunks.map((c) => c.buffer)).size, "several buffers").to.be.greaterThan(2);
    expect(Buffer.concat(chunks).toString()).to.equal(expected);
  });

  it("send the families of a large push in parts (4,096 families each), in order and whole across the parts", async () => {
    const n = 10_000;
    const b = Buffer.from(Array.from({ length: n }, (_, i) => `part_${i}{k="${i}"} ${i} 1700000000000\n`).join(""));
    const objects = parseBody(b, "text");
    const parallel = await Promise.all([pool.run(Buffer.from(b), "text", grouping, received, true), pool.run(Buffer.from(b), "text", new Map([["job", "other"]]), received, true)]);
    for (const { families } of parallel) {
      expect(families.map((f) => f.name)).to.deep.equal(objects.map((f) => f.name));
      for (const i of [0, 4095, 4096, 8191, 8192, n - 1]) {
        const f = families[i] as PushedFamily;
        const built = f.build(f.labelSets());
        expect(built.more(Infinity)).to.equal(true);
        expect(built.metrics, f.name).to.deep.equal(objects[i].metrics);
      }
    }
  });

  it("run behind the main thread: a worker thread's nice value is raised, the main thread's is not", async () => {
    await pool.run(body(), "text", grouping, received);
    // Field 19 of /proc/<pid>/task/<tid>/stat, counted after the command's closing parenthesis.
    const niceOf = (tid: string) => Number(readFileSync(`/proc/self/task/${tid}/stat`, "utf8").split(") ")[1].split(" ")[16]);
    const nices = readdirSync("/proc/self/task").map((tid) => [tid, niceOf(tid)] as const);
    const main = niceOf(String(process.pid));
    expect(main, "the main thread keeps its priority").to.equal(getPriority());
    expect(nices.filter(([, n]) => n === Math.max(main, WORKER_NICE)).length, JSON.stringify(nices)).to.be.at.least(1);
  });

  it("produce exactly the line protocol the main thread produces", async () => {
    const b = body();
    const expected = inline(b);
    const { batch, families } = await pool.run(Buffer.from(b), "text", grouping, received);
    expect(families).to.deep.equal([]);
    expect(Buffer.concat(batch.lineProtocol()).toString()).to.equal(expected);
    expect(batch.size).to.equal(expected.split("\n").length - 1);
    expect(batch.size).to.equal(200 * 5 + 2);
  });

  it("leave the caller's memory alone when the body is a view into a larger buffer", async () => {
    const b = body();
    const big = Buffer.concat([Buffer.from("prefix"), b, Buffer.from("suffix")]);
    const view = big.subarray(6, 6 + b.length);
    const { batch } = await pool.run(view, "text", grouping, received);
    expect(Buffer.concat(batch.lineProtocol()).toString()).to.equal(inline(b));
    expect(big.subarray(0, 6).toString()).to.equal("prefix");
    expect(big.length).to.equal(b.length + 12);
  });

  it("answer a parse error as the main thread does (400, same message)", async () => {
    const bad = Buffer.from("ok 1\nbad{x=\"y\" 2\n");
    let err: unknown;
    try {
      await pool.run(bad, "text", grouping, received);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(BodyParseError);
    expect((err as BodyParseError).message).to.equal('text format parsing error in line 2: unexpected end of label value "y"');
  });

  it("start only when a push comes, and never more than asked for", async () => {
    const lazy = new ParsePool(2, { convert: options, parse: {} }, pino({ level: "silent" }));
    try {
      expect(lazy.running).to.equal(0);
      expect(lazy.available).to.equal(true);
      await lazy.run(Buffer.from("a 1\n"), "text", grouping, received);
      expect(lazy.running).to.equal(1);
      await Promise.all([1, 2, 3, 4].map((i) => lazy.run(Buffer.from(`a ${i}\n`), "text", grouping, received)));
      expect(lazy.running).to.equal(2);
    } finally {
      await lazy.close();
    }
  });

  it("run several pushes at once and answer each with its own points", async () => {
    const bodies = Array.from({ length: 6 }, (_, i) => Buffer.from(`m_${i} ${i} 1700000000000\n`));
    const parsed = await Promise.all(bodies.map((b) => pool.run(b, "text", grouping, received, true)));
    parsed.forEach(({ batch, families }, i) => {
      expect(families.map((f) => f.name)).to.deep.equal([`m_${i}`]);
      const f = families[0] as PushedFamily;
      const built = f.build(f.labelSets());
      expect(built.more(Infinity)).to.equal(true);
      expect(built.metrics[0]).to.include({ value: i, timestampMs: 1700000000000 });
      expect(Buffer.concat(batch.lineProtocol()).toString()).to.equal(`m,dc=eu,instance=i1,job=batch ${i}=${i} 1700000000000000000\n`);
    });
  });
});

describe("LineWriter", () => {
  it("writes exactly the lines LineEncoder writes for the converter's points", () => {
    const text = [
      "# TYPE up gauge",
      'up{up="x",instance=""} 1 1700000000000',
      "# TYPE s_quantile summary",
      's_quantile{quantile="0.5",tag_quantile="t"} 2',
      "s_quantile_sum 3",
      "s_quantile_count NaN",
      "# TYPE h histogram",
      'h_bucket{le="0.1",a="b,c d=e"} 1',
      'h_bucket{le="+Inf",a="b,c d=e"} 2',
      'h_count{a="b,c d=e"} 2',
      "# TYPE odd counter",
      'odd_total{z="1",y="",x="new\\nline"} 5',
      'odd_bucket_count{odd_bucket_count="clash"} 1',
    ].join("\n") + "\n";
    for (const grouping of [new Map([["job", "j"]]), new Map([["job", "j"], ["le", "g"], ["quantile", "q"], ["up", "u"]])]) {
      for (const o of [options, { ...options, keep_exist_metric_name: true, tags: { a: "static", zz: "" } }]) {
        const conv = new Converter(o);
        const families = parseBody(Buffer.from(text), "text");
        const expected = Buffer.concat(new LineEncoder().encodeChunks(conv.convert(families, grouping, 5n))).toString();
        const writer = new LineWriter(3);
        conv.write(families, grouping, 5n, writer);
        const chunks = writer.finish();
        expect(Buffer.concat(chunks).toString()).to.equal(expected);
        expect(writer.lines).to.equal(expected.split("\n").length - 1);
        expect(chunks.every((c) => c[c.length - 1] === 10)).to.equal(true);
      }
    }
  });
});
