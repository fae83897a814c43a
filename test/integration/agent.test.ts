// The agent as a user runs it: a child process with a conf.d, pushed to over HTTP, points
// read back from its file sink.
import { expect } from "chai";
import { gzipSync } from "node:zlib";
import { compressSync } from "snappy";
import { maskedCrc32c } from "../../core/snappy-framed.ts";
import { startTestAgent, runCli, withoutTime, type RunningTestAgent } from "../support/agent.ts";
import { encodeFamilies, PROTOBUF_CONTENT_TYPE } from "../support/protobuf.ts";

/** A body in snappy's framing format, one compressed chunk per 64 KiB. */
function snappyFramed(data: Buffer): Buffer {
  const parts: Buffer[] = [Buffer.from([0xff, 6, 0, 0]), Buffer.from("sNaPpY")];
  for (let i = 0; i < data.length; i += 65536) {
    const piece = data.subarray(i, i + 65536);
    const block = compressSync(piece) as Buffer;
    const head = Buffer.alloc(8);
    head.writeUIntLE(block.length + 4, 1, 3);
    head.writeUInt32LE(maskedCrc32c(piece), 4);
    parts.push(head, block);
  }
  return Buffer.concat(parts);
}

async function push(url: string, body: string | Buffer, init: RequestInit = {}): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(url, { method: "PUT", body: new Uint8Array(typeof body === "string" ? Buffer.from(body) : body), ...init });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

describe("agent (integration)", function () {
  this.timeout(30_000);

  describe("with the default pushgateway input and a file sink", () => {
    let agent: RunningTestAgent;
    before(async () => {
      agent = await startTestAgent({ conf: { "inputs/pushgateway.conf": "[[inputs.pushgateway]]\n" } });
    });
    after(() => agent.cleanup());

    let seen = 0;
    /** Lines written since the previous call. */
    async function newLines(n: number): Promise<string[]> {
      const all = await agent.waitForLines(seen + n);
      const fresh = all.slice(seen);
      seen = all.length;
      return fresh;
    }

    it("answers health and readiness", async () => {
      expect((await fetch(`${agent.url}/-/healthy`)).status).to.equal(200);
      const ready = await fetch(`${agent.url}/-/ready`);
      expect(ready.status).to.equal(200);
      expect(await ready.text()).to.equal("OK\n");
    });

    it("turns a text push without Content-Type into points with the pushed timestamps", async () => {
      const body = [
        "# TYPE pushgateway_count counter",
        'pushgateway_count{name="client"} 100 1700000000123',
        "# TYPE job_duration_seconds summary",
        'job_duration_seconds{quantile="0.5"} 1.5 1700000000123',
        'job_duration_seconds{quantile="0.99"} 2.5 1700000000123',
        "job_duration_seconds_sum 42 1700000000123",
        "job_duration_seconds_count 20 1700000000123",
        "",
      ].join("\n");
      const res = await push(`${agent.url}/metrics/job/hello/instance/i1`, body);
      expect(res.status).to.equal(200);
      expect(res.text).to.equal("");
      expect((await newLines(4)).sort()).to.deep.equal(
        [
          "pushgateway,instance=i1,job=hello,name=client count=100 1700000000123000000",
          "job,instance=i1,job=hello,quantile=0.5 duration_seconds=1.5 1700000000123000000",
          "job,instance=i1,job=hello,quantile=0.99 duration_seconds=2.5 1700000000123000000",
          "job,instance=i1,job=hello duration_seconds_count=20,duration_seconds_sum=42 1700000000123000000",
        ].sort(),
      );
      // The group keeps pushgateway_count as a counter; the seed example below pushes it untyped.
      expect((await fetch(`${agent.url}/metrics/job/hello/instance/i1`, { method: "DELETE" })).status).to.equal(202);
    });

    it("stamps samples without a timestamp with the receive time", async () => {
      const before = BigInt(Date.now()) * 1_000_000n;
      expect((await push(`${agent.url}/metrics/job/t`, "up 1\n", { method: "POST" })).status).to.equal(200);
      const after = BigInt(Date.now()) * 1_000_000n;
      const [line] = await newLines(1);
      expect(withoutTime(line)).to.equal("up,job=t up=1");
      const t = BigInt(line.slice(line.lastIndexOf(" ") + 1));
      expect(t >= before && t <= after).to.equal(true);
    });

    it("accepts the seed DataKit example with a base64 job", async () => {
      const res = await push(`${agent.url}/metrics/job@base64/aGVsbG8=/node/n1/pod/p1/namespace/ns`, 'pushgateway_count{name="client"} 100 1700000000000\n');
      expect(res.status).to.equal(200);
      expect(await newLines(1)).to.deep.equal(["pushgateway,job=hello,name=client,namespace=ns,node=n1,pod=p1 count=100 1700000000000000000"]);
    });

    it("decompresses gzip whatever the case of Content-Encoding", async () => {
      for (const enc of ["gzip", "GZIP", " Gzip "]) {
        const res = await push(`${agent.url}/metrics/job/gz/enc/${enc.trim()}`, gzipSync("gz_value 7 1700000000000\n"), { headers: { "Content-Encoding": enc } });
        expect(res.status, enc).to.equal(200);
      }
      expect((await newLines(3)).sort()).to.deep.equal([
        "gz,enc=GZIP,job=gz value=7 1700000000000000000",
        "gz,enc=Gzip,job=gz value=7 1700000000000000000",
        "gz,enc=gzip,job=gz value=7 1700000000000000000",
      ]);
    });

    it("reads a chunked body (no Content-Length), as prom-client sends it", async () => {
      const parts = ["# TYPE chunk_total counter\n", 'chunk_total{part="a"} 1 1700000000000\n', 'chunk_total{part="b"} 2 1700000000000\n'];
      const stream = new ReadableStream({
        start(c) {
          for (const p of parts) c.enqueue(new TextEncoder().encode(p));
          c.close();
        },
      });
      const res = await fetch(`${agent.url}/metrics/job/chunked`, { method: "POST", body: stream, duplex: "half" } as RequestInit);
      expect(res.status).to.equal(200);
      expect((await newLines(2)).sort()).to.deep.equal([
        "chunk,job=chunked,part=a total=1 1700000000000000000",
        "chunk,job=chunked,part=b total=2 1700000000000000000",
      ]);
    });

    it("refuses a malformed push whole, with the parser's message, and ingests nothing of it", async () => {
      const res = await push(`${agent.url}/metrics/job/bad`, "bad_first 1\nbad_second{a=\"b\" 2\n");
      expect(res.status).to.equal(400);
      expect(res.text).to.equal('text format parsing error in line 2: unexpected end of label value "b"\n');
      const crlf = await push(`${agent.url}/metrics/job/bad`, "bad_crlf 1\r\n");
      expect(crlf.status).to.equal(400);
      expect(crlf.text).to.equal('text format parsing error in line 1: expected float as value, got "1\\r"\n');
      const unterminated = await push(`${agent.url}/metrics/job/bad`, "bad_last 1");
      expect(unterminated.text).to.equal("text format parsing error in line 1: unexpected end of input stream\n");
      expect((await push(`${agent.url}/metrics/job/good`, "good_marker 1 1700000000000\n")).status).to.equal(200);
      expect(await newLines(1)).to.deep.equal(["good,job=good marker=1 1700000000000000000"]);
    });

    it("answers URL errors as the reference does", async () => {
      const cases: [string, string, number, string][] = [
        ["PUT", "/metrics/job/j/instance", 400, 'odd number of components in label string "/instance"\n'],
        ["PUT", "/metrics/job/j/a=b/c", 400, 'improper label name "a=b"\n'],
        ["PUT", "/metrics/job@base64/=", 400, "job name is required\n"],
        ["PUT", "/metrics/job@base64/Pz8+", 400, 'invalid base64 encoding in job name "": illegal base64 data at input byte 3\n'],
        ["PUT", "/metrics/job/j/x@base64/!!!", 400, 'invalid base64 encoding for label x="!!!": illegal base64 data at input byte 0\n'],
        ["POST", "/metrics/job/", 404, "404 page not found\n"],
        ["DELETE", "/metrics/job/j/instance/i", 202, ""],
        ["DELETE", "/metrics/job/j/instance", 400, 'odd number of components in label string "/instance"\n'],
      ];
      for (const [method, p, status, text] of cases) {
        const res = await fetch(agent.url + p, { method, body: method === "DELETE" ? undefined : new Uint8Array(Buffer.from("x 1\n")) });
        expect(res.status, `${method} ${p}`).to.equal(status);
        expect(await res.text(), `${method} ${p}`).to.equal(text);
      }
      const get = await fetch(`${agent.url}/metrics/job/j`);
      expect(get.status).to.equal(405);
      expect(get.headers.get("allow")).to.equal("PUT, POST, DELETE");
    });

    it("percent-decodes the path before splitting it, so %2F separates labels", async () => {
      const res = await push(`${agent.url}/metrics/job/a%2Fb`, "x 1\n");
      expect(res.status).to.equal(400);
      expect(res.text).to.equal('odd number of components in label string "/b"\n');
      const ok = await push(`${agent.url}/metrics/job/pct/path@base64/L3Zhci90bXA`, "pct_v 1 1700000000000\n");
      expect(ok.status).to.equal(200);
      expect(await newLines(1)).to.deep.equal(["pct,job=pct,path=/var/tmp v=1 1700000000000000000"]);
    });

    it("serves its own metrics at GET /metrics: requests, pushes, parse errors, the sink pipeline", async () => {
      await agent.waitForLines(seen);
      const bad = await push(`${agent.url}/metrics/job/m`, "bad{ 1\n");
      expect(bad.status).to.equal(400);
      const res = await fetch(`${agent.url}/metrics`);
      expect(res.status).to.equal(200);
      expect(res.headers.get("content-type")).to.match(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      const value = (series: string) => {
        const line = text.split("\n").find((l) => l.startsWith(series + " "));
        expect(line, `${series} in:\n${text}`).to.be.a("string");
        return Number(line!.slice(series.length + 1));
      };
      expect(value('pushkit_pushgateway_pushes_total{code="200",method="PUT"}')).to.be.at.least(3);
      expect(value('pushkit_pushgateway_pushes_total{code="400",method="PUT"}')).to.be.at.least(1);
      expect(value('pushkit_pushgateway_parse_errors_total{format="text"}')).to.be.at.least(1);
      expect(value('pushkit_pushgateway_points_total{format="text"}')).to.be.at.least(seen);
      expect(value('pushkit_http_requests_total{code="200",method="PUT",route="/metrics/job/{grouping}"}')).to.be.at.least(3);
      expect(value('pushkit_sink_points_sent_total{sink="file"}')).to.be.at.least(seen);
      expect(value('pushkit_sink_queue_points{sink="file"}')).to.equal(0);
      expect(text).to.match(/^pushkit_sink_batch_duration_seconds_bucket\{outcome="sent",sink="file",le="0\.005"\} \d+$/m);
      expect(text).to.match(/^pushkit_process_resident_memory_bytes \d(\.\d+)?(e\+\d+)?$/m);
    });

    it("refuses an unknown Content-Encoding with 415 and a corrupt gzip body with 400", async () => {
      const br = await push(`${agent.url}/metrics/job/enc`, "x 1\n", { headers: { "Content-Encoding": "br" } });
      expect(br.status).to.equal(415);
      expect(br.text).to.match(/^unsupported Content-Encoding "br"/);
      const corrupt = await push(`${agent.url}/metrics/job/enc`, "not gzip at all\n", { headers: { "Content-Encoding": "gzip" } });
      expect(corrupt.status).to.equal(400);
      expect(corrupt.text).to.match(/^cannot decompress gzip body: /);
    });
  });

  describe("protobuf and snappy", () => {
    let agent: RunningTestAgent;
    before(async () => {
      agent = await startTestAgent({ conf: { "inputs/pushgateway.conf": "[[inputs.pushgateway]]\n" } });
    });
    after(() => agent.cleanup());

    const families = encodeFamilies(
      { name: "batch_records_total", type: 0, metric: [{ label: [{ name: "table", value: "users" }], counter: { value: 1200 }, timestamp_ms: 1700000000000 }] },
      {
        name: "batch_seconds",
        type: 4,
        metric: [{ histogram: { sample_count: 3, sample_sum: 4.5, bucket: [{ upper_bound: 1, cumulative_count: 1 }, { upper_bound: 2.5, cumulative_count: 2 }] }, timestamp_ms: 1700000000000 }],
      },
    );
    const expected = [
      "batch,job=pb,table=users records_total=1200 1700000000000000000",
      "batch,job=pb seconds_count=3,seconds_sum=4.5 1700000000000000000",
      "batch,job=pb,le=1 seconds_bucket=1 1700000000000000000",
      "batch,job=pb,le=2.5 seconds_bucket=2 1700000000000000000",
      "batch,job=pb,le=+Inf seconds_bucket=3 1700000000000000000",
    ].sort();

    it("turns a delimited protobuf push into points, plain and in framed snappy", async () => {
      const plain = await push(`${agent.url}/metrics/job/pb`, families, { method: "POST", headers: { "Content-Type": PROTOBUF_CONTENT_TYPE } });
      expect(plain.status, plain.text).to.equal(200);
      expect((await agent.waitForLines(expected.length)).sort()).to.deep.equal(expected);
      const snappy = await push(`${agent.url}/metrics/job/pb`, snappyFramed(families), { headers: { "Content-Type": PROTOBUF_CONTENT_TYPE, "Content-Encoding": "Snappy" } });
      expect(snappy.status, snappy.text).to.equal(200);
      expect((await agent.waitForLines(2 * expected.length)).slice(expected.length).sort()).to.deep.equal(expected);
    });

    it("refuses a truncated protobuf push whole, naming the byte offset", async () => {
      const before = agent.lines().length;
      const res = await push(`${agent.url}/metrics/job/pb`, families.subarray(0, families.length - 1), { headers: { "Content-Type": PROTOBUF_CONTENT_TYPE } });
      expect(res.status).to.equal(400);
      expect(res.text).to.match(/^protobuf parsing error at byte \d+: MetricFamily message of \d+ bytes, but only \d+ bytes are left in the body \(truncated\?\)\n$/);
      const corrupt = await push(`${agent.url}/metrics/job/pb`, Buffer.concat([Buffer.from([0xff, 6, 0, 0]), Buffer.from("sNaPpX")]), { headers: { "Content-Encoding": "snappy" } });
      expect(corrupt.status).to.equal(400);
      expect(corrupt.text).to.equal("cannot decompress snappy body: invalid snappy stream at byte 0: bad stream identifier\n");
      await new Promise((r) => setTimeout(r, 100));
      expect(agent.lines()).to.have.length(before);
    });
  });

  describe("limits", () => {
    let agent: RunningTestAgent;
    before(async () => {
      agent = await startTestAgent({
        conf: { "pushgateway.conf": '[[inputs.pushgateway]]\nmax_body_bytes = "4KiB"\nmax_decompressed_bytes = "8KiB"\nmax_inflight_bytes = "2KiB"\n' },
      });
    });
    after(() => agent.cleanup());

    it("answers 413 naming max_body_bytes for a large body", async () => {
      const body = "big_metric 1\n".repeat(400);
      const res = await push(`${agent.url}/metrics/job/big`, body);
      expect(res.status).to.equal(413);
      expect(res.text).to.equal("request body exceeds the limit of 4096 bytes (max_body_bytes)\n");
    });

    it("answers 413 naming max_body_bytes for a large chunked body", async () => {
      const chunk = new TextEncoder().encode("big_metric 1\n".repeat(50));
      let sent = 0;
      const stream = new ReadableStream({
        pull(c) {
          if (sent++ < 10) c.enqueue(chunk);
          else c.close();
        },
      });
      const res = await fetch(`${agent.url}/metrics/job/big`, { method: "PUT", body: stream, duplex: "half" } as RequestInit);
      expect(res.status).to.equal(413);
      expect(await res.text()).to.match(/max_body_bytes/);
    });

    it("answers 413 naming max_decompressed_bytes for a gzip bomb", async () => {
      const bomb = gzipSync(Buffer.alloc(1_000_000, 0x20));
      expect(bomb.length).to.be.below(4096);
      const res = await push(`${agent.url}/metrics/job/bomb`, bomb, { headers: { "Content-Encoding": "gzip" } });
      expect(res.status).to.equal(413);
      expect(res.text).to.equal("decompressed request body exceeds the limit of 8192 bytes (max_decompressed_bytes)\n");
    });

    it("answers 413 naming max_decompressed_bytes for a snappy bomb", async () => {
      const bomb = snappyFramed(Buffer.alloc(60_000, 0x20));
      expect(bomb.length).to.be.below(4096);
      const res = await push(`${agent.url}/metrics/job/bomb`, bomb, { headers: { "Content-Encoding": "snappy" } });
      expect(res.status).to.equal(413);
      expect(res.text).to.equal("decompressed request body exceeds the limit of 8192 bytes (max_decompressed_bytes)\n");
    });

    it("has ingested nothing of the refused pushes", async () => {
      expect((await push(`${agent.url}/metrics/job/small`, "small_ok 1 1700000000000\n")).status).to.equal(200);
      expect(await agent.waitForLines(1)).to.deep.equal(["small,job=small ok=1 1700000000000000000"]);
    });

    it("answers 503 to a push while others hold max_inflight_bytes, and takes it once they are done", async () => {
      // A push that keeps its body open holds its bytes; the next one finds the budget spent.
      let finishFirst!: () => void;
      const held = new Promise<void>((r) => (finishFirst = r));
      const first = fetch(`${agent.url}/metrics/job/inflight`, {
        method: "PUT",
        duplex: "half",
        body: new ReadableStream({
          async start(c) {
            c.enqueue(new TextEncoder().encode("inflight_first 1 1700000000000\n" + "# padding\n".repeat(200)));
            await held;
            c.close();
          },
        }),
      } as RequestInit);
      let second = { status: 0, text: "", headers: new Headers() };
      for (let i = 0; i < 100 && second.status !== 503; i++) {
        await new Promise((r) => setTimeout(r, 20));
        second = await push(`${agent.url}/metrics/job/inflight2`, "inflight_second 2 1700000000000\n" + "# padding\n".repeat(200));
      }
      expect(second.status).to.equal(503);
      expect(second.headers.get("retry-after")).to.equal("1");
      expect(second.text).to.match(/^pushes in flight hold \d+ bytes, the limit is 2048 \(max_inflight_bytes\)/);
      finishFirst();
      expect((await first).status).to.equal(200);
      expect((await push(`${agent.url}/metrics/job/inflight2`, "inflight_second 2 1700000000000\n")).status).to.equal(200);
      const lines = await agent.waitForLines(3);
      expect(lines).to.include("inflight,job=inflight first=1 1700000000000000000");
      expect(lines).to.include("inflight,job=inflight2 second=2 1700000000000000000");
    });
  });

  describe("large pushes, parsed in worker threads", () => {
    // ~150 KB: above parse_worker_min_bytes (64 KiB), so it goes to a parse worker.
    const lines = ["# TYPE big_requests_total counter"];
    for (let i = 0; i < 3000; i++) lines.push(`big_requests_total{path="/item/${i}",code="${200 + (i % 3)}"} ${i} 1700000000000`);
    lines.push("# TYPE big_latency_seconds summary", 'big_latency_seconds{quantile="0.5"} 0.25 1700000000000', "big_latency_seconds_sum NaN 1700000000000", "big_latency_seconds_count 4 1700000000000");
    const large = lines.join("\n") + "\n";

    /** The points of the push, and what the group store serves after it and after a push of new values for the same series. */
    async function pushAndRead(parseWorkers: number): Promise<{ points: string[]; served: string[][] }> {
      const agent = await startTestAgent({ conf: { "pushgateway.conf": `[[inputs.pushgateway]]\nparse_workers = ${parseWorkers}\n` } });
      const scrape = async () => (await (await fetch(`${agent.url}/metrics`)).text()).split("\n").filter((l) => l.startsWith("big_") || l.startsWith("# TYPE big_"));
      try {
        expect(Buffer.byteLength(large)).to.be.above(64 * 1024);
        const res = await push(`${agent.url}/metrics/job/big`, gzipSync(large), { headers: { "Content-Encoding": "gzip" } });
        expect(res.status, res.text).to.equal(200);
        const bad = await push(`${agent.url}/metrics/job/big`, large.replace("big_requests_total{path=\"/item/2999\"", "big_requests_total{path=/item/2999"));
        expect(bad.status).to.equal(400);
        expect(bad.text).to.equal("text format parsing error in line 3001: expected '\"' at start of label value, found '/'\n");
        const points = await agent.waitForLines(3002);
        const served = [await scrape()];
        // The same series with new values: the store keeps the first push's labels and checks.
        const again = await push(`${agent.url}/metrics/job/big`, large.replace(/ (\d+) 1700000000000$/gm, (_, v: string) => ` ${Number(v) + 1} 1700000000000`));
        expect(again.status, again.text).to.equal(200);
        served.push(await scrape());
        return { points, served };
      } finally {
        agent.cleanup();
      }
    }

    it("parses a large protobuf push in a worker", async () => {
      const agent = await startTestAgent({ conf: { "pushgateway.conf": "[[inputs.pushgateway]]\nparse_workers = 1\nparse_worker_min_bytes = \"1KiB\"\n" } });
      try {
        const metric = Array.from({ length: 200 }, (_, i) => ({ label: [{ name: "i", value: String(i) }], gauge: { value: i }, timestamp_ms: 1700000000000 }));
        const body = encodeFamilies({ name: "wide_value", type: 1, metric });
        expect(body.length).to.be.above(1024);
        const res = await push(`${agent.url}/metrics/job/w`, body, { headers: { "Content-Type": PROTOBUF_CONTENT_TYPE } });
        expect(res.status, res.text).to.equal(200);
        const got = await agent.waitForLines(200);
        expect(got).to.include("wide,i=199,job=w value=199 1700000000000000000");
        const bad = await push(`${agent.url}/metrics/job/w`, body.subarray(0, body.length - 1), { headers: { "Content-Type": PROTOBUF_CONTENT_TYPE } });
        expect(bad.status).to.equal(400);
        expect(bad.text).to.match(/^protobuf parsing error at byte 0: /);
      } finally {
        agent.cleanup();
      }
    });

    it("gives exactly the points the main thread gives, and refuses a bad one whole", async () => {
      const inWorkers = await pushAndRead(2);
      const onMain = await pushAndRead(0);
      expect(inWorkers.points).to.have.length(3002);
      expect(inWorkers.points).to.deep.equal(onMain.points);
      expect(inWorkers.points).to.include("big,code=202,job=big,path=/item/2999 requests_total=2999 1700000000000000000");
      expect(inWorkers.points).to.include("big,job=big latency_seconds_count=4 1700000000000000000");
      // The group store holds the same either way (workers hand it packed families).
      expect(inWorkers.served).to.deep.equal(onMain.served);
      const [first, second] = inWorkers.served;
      expect(first).to.include('big_requests_total{code="202",instance="",job="big",path="/item/2999"} 2999 1700000000000');
      expect(second).to.include('big_requests_total{code="202",instance="",job="big",path="/item/2999"} 3000 1700000000000');
      expect(second).to.include('big_latency_seconds_count{instance="",job="big"} 5 1700000000000');
      expect(second).to.have.length(first.length);
    });
  });

  describe("a sink that cannot keep up", () => {
    it("refuses pushes with 503 and Retry-After once its queue is full, and keeps what it accepted", async () => {
      const agent = await startTestAgent({
        conf: { "pushgateway.conf": "[[inputs.pushgateway]]\n" },
        sink: 'flush_interval = "1h"\nbatch_points = 100000\nmax_queue_points = 3',
      });
      try {
        expect((await push(`${agent.url}/metrics/job/q`, "q_a 1 1700000000000\nq_b 2 1700000000000\n")).status).to.equal(200);
        const full = await push(`${agent.url}/metrics/job/q`, "q_c 3 1700000000000\nq_d 4 1700000000000\n");
        expect(full.status).to.equal(503);
        expect(full.headers.get("retry-after")).to.equal("5");
        expect(full.text).to.equal('sink "file" is behind: 2 points, 64 bytes queued in memory (max_queue_points 3, max_queue_bytes 268435456); nothing of this push was accepted, retry later\n');
        expect(await agent.stop("SIGTERM")).to.equal(0);
        expect(agent.lines()).to.deep.equal(["q,job=q a=1 1700000000000000000", "q,job=q b=2 1700000000000000000"]);
      } finally {
        agent.cleanup();
      }
    });
  });

  describe("configured through the environment", () => {
    let agent: RunningTestAgent;
    before(async () => {
      agent = await startTestAgent({
        conf: { "agent.conf": "" },
        env: {
          ENV_HTTP_LISTEN: "127.0.0.1:0",
          ENV_LOG_FORMAT: "json",
          ENV_DEFAULT_ENABLED_INPUTS: "pushgateway",
          ENV_INPUT_PUSHGATEWAY_ROUTE_PREFIX: "/v1/pushgateway",
          ENV_INPUT_PUSHGATEWAY_TAGS: "cluster=c1",
          ENV_SINKS: "stdout://",
        },
      });
    });
    after(() => agent.cleanup());

    it("serves the routes under the prefix only, and writes to stdout", async () => {
      const res = await push(`${agent.url}/v1/pushgateway/metrics/job/x`, "prefixed_value 3 1700000000000\n");
      expect(res.status).to.equal(200);
      expect((await push(`${agent.url}/metrics/job/x`, "prefixed_value 3\n")).status).to.equal(404);
      expect(await agent.waitForLines(1)).to.deep.equal(["prefixed,cluster=c1,job=x value=3 1700000000000000000"]);
    });
  });

  describe("shutdown", () => {
    it("flushes every queued point on SIGTERM and exits 0", async () => {
      const held = await startTestAgent({
        conf: { "pushgateway.conf": "[[inputs.pushgateway]]\n" },
        sink: 'flush_interval = "1h"\nbatch_points = 100000',
      });
      try {
        const body = Array.from({ length: 300 }, (_, i) => `held_sample{i="${i}"} ${i} 1700000000000`).join("\n") + "\n";
        expect((await push(`${held.url}/metrics/job/held`, body)).status).to.equal(200);
        await new Promise((r) => setTimeout(r, 300));
        expect(held.lines()).to.have.length(0);
        expect(await held.stop("SIGTERM")).to.equal(0);
        const lines = held.lines();
        expect(lines).to.have.length(300);
        expect(lines[299]).to.equal("held,i=299,job=held sample=299 1700000000000000000");
        expect(held.stderr()).to.match(/"lost":0,"queuedOnDisk":0,"msg":"stopped"/);
      } finally {
        held.cleanup();
      }
    });
  });

  describe("configuration errors", () => {
    it("stops start-up naming the file, the table and the key", async () => {
      const agent = startTestAgent({ conf: { "pushgateway.conf": "[[inputs.pushgateway]]\nroute_prefx = \"/x\"\n" } });
      const err = await agent.then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).to.match(/exited with 2/);
      expect(err?.message).to.match(/pushgateway\.conf \[inputs\.pushgateway\]: unknown key "route_prefx" \(did you mean "route_prefix"\?\)/);
    });

    it("check-config prints every value with its source and exits 0", async () => {
      const res = await runCli(["check-config", "--conf-dir", "conf.d"], { ENV_HTTP_LISTEN: "0.0.0.0:9529", ENV_INPUT_PUSHGATEWAY_HONOR_TIMESTAMPS: "false" });
      expect(res.code, res.stderr).to.equal(0);
      expect(res.stdout).to.match(/listen = "0\.0\.0\.0:9529"\s+# env ENV_HTTP_LISTEN/);
      expect(res.stdout).to.match(/honor_timestamps = false\s+# env ENV_INPUT_PUSHGATEWAY_HONOR_TIMESTAMPS/);
      expect(res.stdout).to.match(/route_prefix = ""\s+# default/);
      expect(res.stdout).to.match(/\[\[inputs\.pushgateway\]\]\s+# from conf\.d\/pushgateway\.conf/);
      expect(res.stdout).to.match(/configuration OK/);
    });

    it("check-config exits non-zero naming a bad environment variable", async () => {
      const res = await runCli(["check-config", "--conf-dir", "conf.d"], { ENV_INPUT_PUSHGATEWAY_HONOR_TIMESTAMPS: "maybe" });
      expect(res.code).to.equal(2);
      expect(res.stderr).to.equal('pushkit: ENV_INPUT_PUSHGATEWAY_HONOR_TIMESTAMPS: expected a boolean (true/false, 1/0, yes/no, on/off), got "maybe"\n');
    });
  });

});
