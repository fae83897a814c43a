// What the fuzz targets found, pinned as plain tests (each named after the property that
// found it, see test/fuzz/targets).
import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfig } from "../../core/config.ts";
import { ConfigError } from "../../core/options.ts";
import { BodyParseError } from "../../plugins/formats/prometheus/model.ts";
import { parseBody } from "../../plugins/formats/prometheus/parse.ts";
import { builtinRegistry } from "../../plugins/index.ts";
import { startTestAgent, type RunningTestAgent } from "../support/agent.ts";
import { encodeFamilies, PROTOBUF_CONTENT_TYPE } from "../support/protobuf.ts";
import { PUSHGATEWAY_CONF, scrape } from "./targets/http.ts";

describe("fuzz findings", () => {
  describe("what a push left in the store is served so that it parses (http/scrape, text/written, openmetrics/roundtrip)", function () {
    this.timeout(60_000);
    let agent: RunningTestAgent;

    before(async () => {
      agent = await startTestAgent({ conf: { "pushgateway.conf": PUSHGATEWAY_CONF } });
    });

    after(() => agent?.cleanup());

    async function put(job: string, body: Buffer | string, contentType: string): Promise<void> {
      const res = await fetch(`${agent.url}/metrics/job/${job}`, { method: "PUT", headers: { "content-type": contentType }, body: new Uint8Array(Buffer.from(body)) });
      expect(res.status, await res.text()).to.equal(200);
    }

    async function cleanUp(...jobs: string[]): Promise<void> {
      for (const job of jobs) await fetch(`${agent.url}/metrics/job/${job}`, { method: "DELETE" });
    }

    const TEXT = "text/plain; version=0.0.4";
    const OPENMETRICS = "application/openmetrics-text; version=1.0.0";

    // Label names are checked against the metric-name rule, which allows ":": a protobuf push
    // may carry "a:b" (any UTF-8 name), and it is served bare, which no text parser reads.
    it('serves a label name with ":" pushed as protobuf', async () => {
      await put("colon", encodeFamilies({ name: "m", type: 1, metric: [{ label: [{ name: "a:b", value: "v" }], gauge: { value: 1 } }] }), PROTOBUF_CONTENT_TYPE);
      try {
        await scrape(agent);
      } finally {
        await cleanUp("colon");
      }
    });

    // _count is optional in OpenMetrics; it is then served as "_count 0" beside a +Inf bucket
    // of 2, which OpenMetrics forbids.
    it("serves an OpenMetrics histogram pushed without _count", async () => {
      await put("nocount", '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\n# EOF\n', OPENMETRICS);
      try {
        await scrape(agent);
      } finally {
        await cleanUp("nocount");
      }
    });

    // Text 0.0.4 takes these (as the reference does); served as OpenMetrics they make the whole
    // OpenMetrics scrape unreadable.
    for (const [what, text] of [
      ["a summary quantile outside 0..1", '# TYPE s summary\ns{quantile="-254"} 1\ns_sum 1\ns_count 1\n'],
      ["a histogram whose _count is not its +Inf bucket", '# TYPE h2 histogram\nh2_bucket{le="+Inf"} 347\nh2_sum 1\nh2_count 710\n'],
    ]) {
      it(`serves text pushed with ${what}`, async () => {
        await put("textonly", text, TEXT);
        try {
          await scrape(agent);
        } finally {
          await cleanUp("textonly");
        }
      });
    }

  });

  describe("numbers (text/mutated)", () => {
    // parseGoFloat's pattern "\d+\.?\d*" tried a long digit run that fails at its end at every
    // split point: `a 4000…0x` of 256 KiB took 40 s to refuse, quadratic in the length, on the
    // event loop for bodies under parse_worker_min_bytes and in a parse worker above.
    const digits = "4" + "0".repeat(256 * 1024);
    for (const [format, body] of [
      ["text", `a ${digits}x\n`],
      ["text", `# TYPE h histogram\nh_bucket{le="${digits}x"} 1\n`],
      ["openmetrics", `a ${digits}x\n# EOF\n`],
    ] as const) {
      it(`refuses a 256 KiB number ending in a letter (${format}: ${body.slice(0, 24).replace(/\n/g, " ")}…) within 2 s`, () => {
        const t0 = performance.now();
        expect(() => parseBody(Buffer.from(body), format)).to.throw(BodyParseError);
        expect(performance.now() - t0).to.be.below(2000);
      });
    }
  });

  describe("error messages (text/mutated)", () => {
    // The text parser quotes the whole offending token: a 1 MiB bad value is a 1 MiB message (in
    // the 400 answer and the log), and quoting it byte by byte costs ~80 ms per 256 KiB on the
    // event loop. The OpenMetrics parser cuts quoted tokens at 100 characters.
    for (const body of [`a ${"x".repeat(1 << 20)}\n`, `a{b="${"\u00ff".repeat(1 << 19)}\xff"} 1\n`, `a 1 ${"9".repeat(1 << 20)}\n`]) {
      it(`refuses ${JSON.stringify(body.slice(0, 12))}… (1 MiB) with a message of at most 4 KiB`, () => {
        let message = "";
        try {
          parseBody(Buffer.from(body, body.includes("\xff") ? "latin1" : "utf8"), "text");
        } catch (e) {
          expect(e).to.be.instanceOf(BodyParseError);
          message = (e as Error).message;
        }
        expect(message).not.to.equal("");
        expect(message.length, message.slice(0, 200)).to.be.at.most(4096);
      });
    }
  });

  describe("configuration (config/files)", () => {
    const registry = builtinRegistry();
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), "pushkit-fuzz-regression-"))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    // An integer option took any float that is a whole number: 2^53 and beyond are no integer
    // TOML can write, so check-config and the samples print them as something that does not load
    // back (9007199254740992: "cannot be represented losslessly"), or as a float (1e+300).
    for (const value of ["9007199254740992.0", "1e300"]) {
      it(`refuses sample_limit = ${value} with a ConfigError (config/schema)`, () => {
        writeFileSync(path.join(dir, "agent.conf"), `[[inputs.pushgateway]]\nsample_limit = ${value}\n`);
        expect(() => loadConfig({ confDir: dir, env: {}, registry })).to.throw(ConfigError);
      });
    }

    // Keys are looked up in plain objects: every object's own names (constructor, toString, ...)
    // were taken for options and their values called as option specs: a TypeError and exit 1.
    for (const conf of ["[http]\nconstructor = {}\n", "[toString]\nname = 1\n", "[[inputs.pushgateway]]\nhasOwnProperty = 1\n", "[[sinks.file]]\npath = \"x\"\nvalueOf = 1\n", "[constructor]\n"]) {
      it(`refuses ${JSON.stringify(conf)} with a ConfigError`, () => {
        writeFileSync(path.join(dir, "agent.conf"), conf);
        let thrown: unknown;
        try {
          loadConfig({ confDir: dir, env: {}, registry });
        } catch (e) {
          thrown = e;
        }
        expect(thrown, String((thrown as Error)?.stack)).to.be.instanceOf(ConfigError);
        expect((thrown as Error).message).to.match(/unknown (key|table)/);
      });
    }
  });
});
