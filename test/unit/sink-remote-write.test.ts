// The prometheus_remote_write sink without a real backend: the WriteRequest it encodes (read
// back with protobufjs and snappy), its options and ENV_SINKS URLs, and how it judges every
// answer of a small in-test HTTP server.
import { expect } from "chai";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { uncompressSync } from "snappy";
import { PointBatch } from "../../core/batch.ts";
import { loadConfig } from "../../core/config.ts";
import { SinkWriteError } from "../../core/errors.ts";
import { USER_AGENT } from "../../core/http-post.ts";
import { ConfigError } from "../../core/options.ts";
import type { Point } from "../../core/point.ts";
import { Registry } from "../../core/registry.ts";
import remoteWrite, {
  encodeStaleMarkers,
  encodeStaleSamples,
  encodeWriteRequest,
  isStaleNaN,
  metricName,
  nsToMs,
  pointsToTimeSeries,
  RemoteWriteClient,
  sanitizeLabelName,
  sanitizeMetricName,
  seriesOf,
  STALE_NAN,
  WriteRequestType,
  type RemoteWriteOptions,
  type RemoteWriteSink,
  type TimeSeries,
} from "../../plugins/sinks/prometheus_remote_write/index.ts";

const log = pino({ level: "silent" });

interface Decoded {
  timeseries: { labels: { name: string; value: string }[]; samples: { value: number; timestamp: number }[] }[];
}

/** A WriteRequest as protobufjs reads it back (int64 as numbers, defaults filled in). */
function decode(protobufBody: Uint8Array): Decoded {
  const msg = WriteRequestType.decode(protobufBody);
  return WriteRequestType.toObject(msg, { longs: Number, defaults: true, arrays: true }) as Decoded;
}

function point(measurement: string, tags: Record<string, string>, fields: Point["fields"], time: bigint): Point {
  return { measurement, tags, fields, time };
}

function options(o: Partial<RemoteWriteOptions> = {}): RemoteWriteOptions {
  return { url: "http://127.0.0.1:1/api/v1/write", username: "", password: "", bearer_token: "", headers: {}, timeout: 10_000, ...o };
}

/** Bits of a float64 as hex, e.g. 7ff0000000000002. */
function bits(v: number): string {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(v);
  return b.toString("hex");
}

describe("prometheus_remote_write sink", () => {
  describe("names", () => {
    it("metric names: invalid characters become _, a leading digit gets a _, colons stay", () => {
      expect(metricName("http", "requests_total")).to.equal("http_requests_total");
      expect(metricName("2xx-api", "p99.latency")).to.equal("_2xx_api_p99_latency");
      expect(metricName("job:rate5m", "x")).to.equal("job:rate5m_x");
      expect(metricName("temp°C", "now")).to.equal("temp_C_now");
      expect(metricName("emoji😀", "v")).to.equal("emoji__v"); // one code point, one _
      expect(sanitizeMetricName("")).to.equal("_");
      expect(sanitizeMetricName("_ok:Name9")).to.equal("_ok:Name9");
    });

    it("label names: invalid characters (colon too) become _, a leading digit gets a _", () => {
      expect(sanitizeLabelName("host")).to.equal("host");
      expect(sanitizeLabelName("k8s.pod-name")).to.equal("k8s_pod_name");
      expect(sanitizeLabelName("a:b")).to.equal("a_b");
      expect(sanitizeLabelName("1st")).to.equal("_1st");
      expect(sanitizeLabelName("")).to.equal("_");
      expect(sanitizeLabelName("Zone")).to.equal("Zone");
    });

    it("nanoseconds to milliseconds, rounded down", () => {
      expect(nsToMs(1_700_000_000_123_999_999n)).to.equal(1_700_000_000_123);
      expect(nsToMs(1_700_000_000_123_000_000n)).to.equal(1_700_000_000_123);
      expect(nsToMs(0n)).to.equal(0);
      expect(nsToMs(-1n)).to.equal(-1);
      expect(nsToMs(-1_000_000n)).to.equal(-1);
    });
  });

  describe("series of a batch", () => {
    it("one series per numeric field, labels sorted by name with __name__ in its byte-order place", () => {
      const series = pointsToTimeSeries([
        point("http", { path: "/a", Zone: "eu", "k8s.pod": "p-1", code: "200" }, { requests_total: 7, duration_seconds_sum: 1.5 }, 1_700_000_000_123_456_789n),
      ]);
      expect(series).to.deep.equal([
        {
          labels: [
            { name: "Zone", value: "eu" }, // uppercase sorts before "_"
            { name: "__name__", value: "http_requests_total" },
            { name: "code", value: "200" },
            { name: "k8s_pod", value: "p-1" },
            { name: "path", value: "/a" },
          ],
          samples: [{ value: 7, timestamp: 1_700_000_000_123 }],
        },
        {
          labels: [
            { name: "Zone", value: "eu" },
            { name: "__name__", value: "http_duration_seconds_sum" },
            { name: "code", value: "200" },
            { name: "k8s_pod", value: "p-1" },
            { name: "path", value: "/a" },
          ],
          samples: [{ value: 1.5, timestamp: 1_700_000_000_123 }],
        },
      ]);
    });

    it("booleans are 0/1, integers numbers, strings skipped; a point of only strings writes nothing", () => {
      const series = pointsToTimeSeries([
        point("svc", {}, { up: true, down: false, restarts: 12n, version: "1.2.3" }, 5_000_000n),
        point("svc", {}, { note: "only text" }, 5_000_000n),
      ]);
      expect(series.map((s) => [s.labels[0].value, s.samples[0].value])).to.deep.equal([
        ["svc_up", 1],
        ["svc_down", 0],
        ["svc_restarts", 12],
      ]);
      expect(pointsToTimeSeries([point("svc", {}, { note: "x" }, 1n)])).to.deep.equal([]);
    });

    it("identical label sets share one TimeSeries, samples in time order, the last of equal times wins", () => {
      const tags = { job: "a" };
      const series = pointsToTimeSeries([
        point("m", tags, { v: 3 }, 3_000_000n),
        point("m", { job: "b" }, { v: 9 }, 1_000_000n),
        point("m", tags, { v: 1 }, 1_000_000n),
        point("m", tags, { v: 2 }, 2_000_000n),
        point("m", tags, { v: 2.5 }, 2_000_000n),
      ]);
      expect(series).to.deep.equal([
        {
          labels: [
            { name: "__name__", value: "m_v" },
            { name: "job", value: "a" },
          ],
          samples: [
            { value: 1, timestamp: 1 },
            { value: 2.5, timestamp: 2 },
            { value: 3, timestamp: 3 },
          ],
        },
        {
          labels: [
            { name: "__name__", value: "m_v" },
            { name: "job", value: "b" },
          ],
          samples: [{ value: 9, timestamp: 1 }],
        },
      ]);
    });

    it("tag collisions: the tag already spelled right wins, a __name__ tag and empty values are left out", () => {
      const [s] = pointsToTimeSeries([point("m", { "a-b": "sanitised", a_b: "exact", "x.y": "first", "x-y": "second", __name__: "no", empty: "" }, { v: 1 }, 0n)]);
      expect(s.labels).to.deep.equal([
        { name: "__name__", value: "m_v" },
        { name: "a_b", value: "exact" },
        { name: "x_y", value: "second" }, // "x-y" sorts before "x.y": the first in key order
      ]);
    });

    it("a NaN field is an ordinary NaN, never a staleness marker", () => {
      const [s] = pointsToTimeSeries([point("m", {}, { v: NaN }, 0n)]);
      expect(bits(s.samples[0].value)).to.equal("7ff8000000000000");
      expect(isStaleNaN(s.samples[0].value)).to.equal(false);
    });

    it("seriesOf gives the label sets points write to", () => {
      expect(seriesOf([point("m", { job: "a" }, { v: 1, w: 2, s: "x" }, 0n), point("m", { job: "a" }, { v: 3 }, 1n)])).to.deep.equal([
        { __name__: "m_v", job: "a" },
        { __name__: "m_w", job: "a" },
      ]);
    });
  });

  describe("encoding", () => {
    it("encodes the remote-write field numbers and wire types, byte for byte", () => {
      const body = encodeWriteRequest([
        {
          labels: [
            { name: "__name__", value: "m" },
            { name: "a", value: "b" },
          ],
          samples: [{ value: 1.5, timestamp: 1000 }],
        },
      ]);
      // Written by hand from the protocol: WriteRequest.timeseries = 1 (bytes); TimeSeries.labels = 1,
      // samples = 2; Label.name = 1, value = 2; Sample.value = 1 (double), timestamp = 2 (varint).
      const label1 = Buffer.from([0x0a, 8, ...Buffer.from("__name__"), 0x12, 1, 0x6d]);
      const label2 = Buffer.from([0x0a, 1, 0x61, 0x12, 1, 0x62]);
      const sample = Buffer.from([0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0x10, 0xe8, 0x07]);
      const ts = Buffer.concat([Buffer.from([0x0a, label1.length]), label1, Buffer.from([0x0a, label2.length]), label2, Buffer.from([0x12, sample.length]), sample]);
      expect(body.toString("hex")).to.equal(Buffer.concat([Buffer.from([0x0a, ts.length]), ts]).toString("hex"));
    });

    it("round-trips through protobufjs: labels, values, ms timestamps (also beyond 2^32 and negative)", () => {
      const series: TimeSeries[] = [
        {
          labels: [
            { name: "__name__", value: "x_total" },
            { name: "é", value: "ünïcode ✓" },
          ],
          samples: [
            { value: -0.25, timestamp: -5 },
            { value: 1e300, timestamp: 1_795_317_118_749 },
            { value: Infinity, timestamp: 1_795_317_118_750 },
          ],
        },
      ];
      expect(decode(encodeWriteRequest(series)).timeseries).to.deep.equal(series);
    });

    it("staleness markers carry exactly the NaN bits 0x7ff0000000000002", () => {
      expect(bits(STALE_NAN)).to.equal("7ff0000000000002");
      expect(isStaleNaN(STALE_NAN)).to.equal(true);
      expect(isStaleNaN(NaN)).to.equal(false);
      const body = encodeStaleMarkers(
        [
          { job: "a", __name__: "m_v" },
          { __name__: "m_w", job: "a", instance: "i" },
          { job: "a", __name__: "m_v" }, // the same series twice: one marker
        ],
        1_795_317_118_749,
      );
      // Sample: tag 0x09 then the 8 little-endian bytes of the marker, tag 0x10 then the varint ms.
      const ms = Buffer.from([0x10, 0x9d, 0xee, 0xf4, 0x89, 0xa0, 0x34]);
      const sample = Buffer.concat([Buffer.from([0x09, 0x02, 0, 0, 0, 0, 0, 0xf0, 0x7f]), ms]);
      const needle = Buffer.concat([Buffer.from([0x12, sample.length]), sample]);
      let count = 0;
      for (let i = body.indexOf(needle); i !== -1; i = body.indexOf(needle, i + 1)) count++;
      expect(count).to.equal(2);
      const decoded = decode(body).timeseries;
      expect(decoded.map((s) => s.labels)).to.deep.equal([
        [
          { name: "__name__", value: "m_v" },
          { name: "job", value: "a" },
        ],
        [
          { name: "__name__", value: "m_w" },
          { name: "instance", value: "i" },
          { name: "job", value: "a" },
        ],
      ]);
      for (const s of decoded) {
        expect(s.samples).to.have.length(1);
        expect(s.samples[0].timestamp).to.equal(1_795_317_118_749);
        expect(Number.isNaN(s.samples[0].value)).to.equal(true);
      }
    });

    it("refuses a marker time that is not an integer of ms", () => {
      expect(() => encodeStaleMarkers([{ __name__: "m" }], 1.5)).to.throw(RangeError);
    });

    it("encodeStaleSamples puts a marker at every sample's time, whatever its value", () => {
      const labels = [{ name: "__name__", value: "m_v" }];
      const body = encodeStaleSamples([{ labels, samples: [{ value: 0, timestamp: 1000 }, { value: 42, timestamp: 2000 }] }]);
      const marker = Buffer.from([0x09, 0x02, 0, 0, 0, 0, 0, 0xf0, 0x7f]);
      let count = 0;
      for (let i = body.indexOf(marker); i !== -1; i = body.indexOf(marker, i + 1)) count++;
      expect(count).to.equal(2);
      const [s] = decode(body).timeseries;
      expect(s.labels).to.deep.equal(labels);
      expect(s.samples.map((x) => x.timestamp)).to.deep.equal([1000, 2000]);
      expect(s.samples.every((x) => Number.isNaN(x.value))).to.equal(true);
    });
  });

  describe("options", () => {
    const registry = new Registry().addSink(remoteWrite);
    const dirs: string[] = [];
    after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

    function load(agentConf: string, env: Record<string, string> = {}) {
      const dir = mkdtempSync(path.join(os.tmpdir(), "pushkit-rw-"));
      dirs.push(dir);
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, "agent.conf"), agentConf);
      return loadConfig({ confDir: dir, env, registry });
    }

    function loadError(agentConf: string, env: Record<string, string> = {}): string {
      try {
        load(agentConf, env);
      } catch (e) {
        expect(e).to.be.instanceOf(ConfigError);
        return (e as Error).message;
      }
      throw new Error("expected a ConfigError");
    }

    it("defaults: timeout 10s, no auth, no headers, batch_points 2000, flush_interval 1s", () => {
      const config = load('[[sinks.prometheus_remote_write]]\nurl = "http://127.0.0.1:9090/api/v1/write"\n');
      const all = config.sinks[0].settings;
      const keys = ["batch_points", "flush_interval", "url", "username", "password", "bearer_token", "headers", "timeout"];
      const s = Object.fromEntries(keys.map((k) => [k, all[k].value]));
      expect(s).to.deep.equal({
        batch_points: 2000,
        flush_interval: 1000,
        url: "http://127.0.0.1:9090/api/v1/write",
        username: "",
        password: "",
        bearer_token: "",
        headers: {},
        timeout: 10_000,
      });
    });

    it("url is required and must be http(s) without credentials", () => {
      expect(loadError("[[sinks.prometheus_remote_write]]\n")).to.match(/key "url" is required/);
      expect(loadError('[[sinks.prometheus_remote_write]]\nurl = "ftp://x/y"\n')).to.match(/key "url": must be http:\/\/ or https:\/\/, got "ftp:\/\/"/);
      expect(loadError('[[sinks.prometheus_remote_write]]\nurl = "not a url"\n')).to.match(/key "url": must be an absolute/);
      expect(loadError('[[sinks.prometheus_remote_write]]\nurl = "http://u:p@h/w"\n')).to.match(/must not hold credentials/);
    });

    it("headers: protocol headers cannot be replaced; timeout is a duration", () => {
      expect(loadError('[[sinks.prometheus_remote_write]]\nurl = "http://h/w"\nheaders = { "Content-Encoding" = "gzip" }\n')).to.match(
        /"Content-Encoding" is set by the remote-write protocol/,
      );
      expect(loadError('[[sinks.prometheus_remote_write]]\nurl = "http://h/w"\nheaders = { "bad header" = "x" }\n')).to.match(/not a valid HTTP header name/);
      expect(loadError('[[sinks.prometheus_remote_write]]\nurl = "http://h/w"\ntimeout = 5\n')).to.match(/key "timeout": expected a duration/);
    });

    it("auth conflicts and bad header values are refused when the sink is created", () => {
      const create = (o: Partial<RemoteWriteOptions>) => () => remoteWrite.create(options(o), { log });
      expect(create({ username: "u", bearer_token: "t" })).to.throw(ConfigError, /either username\/password \(basic auth\) or bearer_token, not both/);
      expect(create({ password: "p" })).to.throw(ConfigError, /password is set without username/);
      expect(create({ bearer_token: "t", headers: { authorization: "x" } })).to.throw(ConfigError, /headers.Authorization conflicts with bearer_token/);
      expect(create({ headers: { "X-A": "line\nbreak" } })).to.throw(ConfigError, /headers.X-A/);
      expect(create({ headers: { Authorization: "Token abc" } })).not.to.throw();
    });

    it("ENV_SINKS: remote_write+http(s)://, credentials in the user-info", () => {
      // An underscore is not allowed in a URL scheme: the config reads remote_write+http://
      // as remote-write+http://, and both spellings work.
      expect(() => new URL("remote_write+http://h/w")).to.throw(TypeError);
      expect(load("", { ENV_SINKS: "remote_write+http://h:9090/api/v1/write" }).sinks[0].settings.url.value).to.equal("http://h:9090/api/v1/write");
      const fromUrl = (u: string) => remoteWrite.fromUrl(new URL(u));
      expect(fromUrl("remote-write+http://127.0.0.1:9090/api/v1/write")).to.deep.equal({ url: "http://127.0.0.1:9090/api/v1/write" });
      expect(fromUrl("remote-write+https://us%40er:p%3Ass@mimir.example:443/api/v1/push?tenant=a")).to.deep.equal({
        url: "https://mimir.example:443/api/v1/push?tenant=a",
        username: "us@er",
        password: "p:ss",
      });
      expect(fromUrl("remote-write+http://[::1]:9090/")).to.deep.equal({ url: "http://[::1]:9090/" });
      expect(() => fromUrl("remote-write+http://h:9090")).to.throw(/expected a path such as remote-write\+http:\/\/h:9090\/api\/v1\/write/);
      expect(() => fromUrl("remote-write+http://h/w#x")).to.throw(/fragment/);

      const config = load("", { ENV_SINKS: "remote-write+http://u:p@127.0.0.1:9090/api/v1/write" });
      expect(config.sinks).to.have.length(1);
      expect(config.sinks[0].type).to.equal("prometheus_remote_write");
      expect(config.sinks[0].settings.url.value).to.equal("http://127.0.0.1:9090/api/v1/write");
      expect(config.sinks[0].settings.username.value).to.equal("u");
      expect(config.sinks[0].settings.password.value).to.equal("p");
      expect(config.sinks[0].settings.batch_points.value).to.equal(2000);
      expect(loadError("", { ENV_SINKS: "remote-write+ftp://h/w" })).to.match(/unknown sink scheme "remote-write\+ftp:\/\/"/);
    });
  });

  describe("against an in-test HTTP server", () => {
    interface Seen {
      method: string;
      url: string;
      headers: http.IncomingHttpHeaders;
      body: Buffer;
    }
    type Reply = (req: http.IncomingMessage, res: http.ServerResponse) => void;

    let server: http.Server;
    let base: string;
    let reply: Reply;
    let seen: Seen[];
    let connections: number;
    const sockets = new Set<net.Socket>();

    before(async () => {
      server = http.createServer((req, res) => {
        const parts: Buffer[] = [];
        req.on("data", (d: Buffer) => parts.push(d));
        req.on("end", () => {
          seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(parts) });
          reply(req, res);
        });
      });
      server.on("connection", (s) => {
        connections++;
        sockets.add(s);
        s.on("close", () => sockets.delete(s));
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    });
    after(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    });
    beforeEach(() => {
      seen = [];
      connections = 0;
      reply = (_req, res) => res.writeHead(204).end();
    });

    const batch = () =>
      PointBatch.fromPoints([
        point("http", { code: "200", job: "api" }, { requests_total: 7 }, 1_700_000_000_123_456_789n),
        point("http", { code: "500", job: "api" }, { requests_total: 1 }, 1_700_000_000_123_456_789n),
        point("http", { code: "200", job: "api" }, { requests_total: 8 }, 1_700_000_001_000_000_000n),
      ]);

    function sink(o: Partial<RemoteWriteOptions> = {}): RemoteWriteSink {
      return remoteWrite.create(options({ url: `${base}/api/v1/write?tenant=t1`, ...o }), { log }) as RemoteWriteSink;
    }

    /** The SinkWriteError a write fails with; fails the test when it succeeds. */
    async function writeError(s: RemoteWriteSink): Promise<SinkWriteError> {
      try {
        await s.write(batch());
      } catch (e) {
        expect(e).to.be.instanceOf(SinkWriteError);
        return e as SinkWriteError;
      } finally {
        await s.close();
      }
      throw new Error("expected the write to fail");
    }

    it("POSTs a snappy-compressed WriteRequest with the protocol's headers", async () => {
      const s = sink({ headers: { "X-Scope-OrgID": "tenant-1" } });
      await s.write(batch());
      await s.close();
      expect(seen).to.have.length(1);
      const [r] = seen;
      expect(r.method).to.equal("POST");
      expect(r.url).to.equal("/api/v1/write?tenant=t1");
      expect(r.headers["content-encoding"]).to.equal("snappy");
      expect(r.headers["content-type"]).to.equal("application/x-protobuf");
      expect(r.headers["x-prometheus-remote-write-version"]).to.equal("0.1.0");
      expect(r.headers["user-agent"]).to.equal(USER_AGENT).and.to.match(/^pushkit\/\d+\.\d+\.\d+/);
      expect(r.headers["x-scope-orgid"]).to.equal("tenant-1");
      expect(r.headers["content-length"]).to.equal(String(r.body.length));
      expect(r.headers.authorization).to.equal(undefined);
      expect(decode(uncompressSync(r.body) as Buffer).timeseries).to.deep.equal([
        {
          labels: [
            { name: "__name__", value: "http_requests_total" },
            { name: "code", value: "200" },
            { name: "job", value: "api" },
          ],
          samples: [
            { value: 7, timestamp: 1_700_000_000_123 },
            { value: 8, timestamp: 1_700_000_001_000 },
          ],
        },
        {
          labels: [
            { name: "__name__", value: "http_requests_total" },
            { name: "code", value: "500" },
            { name: "job", value: "api" },
          ],
          samples: [{ value: 1, timestamp: 1_700_000_000_123 }],
        },
      ]);
    });

    it("sends basic auth or a bearer token; a User-Agent header replaces ours", async () => {
      let s = sink({ username: "alice", password: "s3:cret" });
      await s.write(batch());
      await s.close();
      s = sink({ bearer_token: "tok.en", headers: { "User-Agent": "mine/1" } });
      await s.write(batch());
      await s.close();
      expect(seen[0].headers.authorization).to.equal(`Basic ${Buffer.from("alice:s3:cret").toString("base64")}`);
      expect(seen[1].headers.authorization).to.equal("Bearer tok.en");
      expect(seen[1].headers["user-agent"]).to.equal("mine/1");
    });

    it("sends nothing for a batch without numeric fields", async () => {
      const s = sink();
      await s.write(PointBatch.fromPoints([point("m", {}, { s: "text" }, 0n)]));
      await s.close();
      expect(seen).to.have.length(0);
    });

    it("keeps the connection alive between writes", async () => {
      const s = sink();
      await s.write(batch());
      await s.write(batch());
      await s.write(batch());
      await s.close();
      expect(seen).to.have.length(3);
      expect(connections).to.equal(1);
    });

    it("2xx is success", async () => {
      reply = (_req, res) => res.writeHead(200).end("fine");
      const s = sink();
      await s.write(batch());
      await s.close();
    });

    for (const status of [400, 401, 403, 404, 413, 422]) {
      it(`${status} is refused for good (retry false) with the answer`, async () => {
        reply = (_req, res) => res.writeHead(status, { "Content-Type": "text/plain" }).end("out of order sample\n");
        const e = await writeError(sink());
        expect(e.retry).to.equal(false);
        expect(e.detail).to.deep.equal({ status, response: "out of order sample" });
        expect(e.message).to.equal(`remote write to ${base}/api/v1/write?tenant=t1: HTTP ${status}: out of order sample`);
      });
    }

    it("a redirect is not followed and not retried", async () => {
      reply = (_req, res) => res.writeHead(301, { Location: "/elsewhere" }).end();
      const e = await writeError(sink());
      expect(e.retry).to.equal(false);
      expect(e.detail.status).to.equal(301);
      expect(e.message).to.match(/HTTP 301 \(redirect to \/elsewhere, not followed\)/);
    });

    for (const status of [408, 429, 500, 502, 503]) {
      it(`${status} is retried, with Retry-After`, async () => {
        reply = (_req, res) => res.writeHead(status, { "Retry-After": "7" }).end("busy");
        const e = await writeError(sink());
        expect(e.retry).to.equal(true);
        expect(e.detail).to.deep.equal({ status, retryAfterMs: 7000, response: "busy" });
      });
    }

    it("a 503 with a Retry-After date; a 500 without", async () => {
      reply = (_req, res) => res.writeHead(503, { "Retry-After": new Date(Date.now() + 60_000).toUTCString() }).end();
      let e = await writeError(sink());
      expect(e.retry).to.equal(true);
      expect(e.detail.retryAfterMs).to.be.within(55_000, 60_000);
      reply = (_req, res) => res.writeHead(500).end("boom");
      e = await writeError(sink());
      expect(e.detail).to.deep.equal({ status: 500, response: "boom" });
    });

    it("a long answer is kept up to 64 KiB, the message shows its start", async () => {
      reply = (_req, res) => res.writeHead(400).end("x".repeat(200_000));
      const e = await writeError(sink());
      expect(e.detail.response).to.have.length(64 * 1024 + 3);
      expect(e.message.length).to.be.below(700);
    });

    it("a refused connection is retried", async () => {
      const closed = await new Promise<number>((resolve) => {
        const srv = net.createServer().listen(0, "127.0.0.1", () => {
          const { port } = srv.address() as net.AddressInfo;
          srv.close(() => resolve(port));
        });
      });
      const e = await writeError(sink({ url: `http://127.0.0.1:${closed}/api/v1/write` }));
      expect(e.retry).to.equal(true);
      expect(e.message).to.match(/ECONNREFUSED/);
    });

    it("a connection dropped without an answer is retried", async () => {
      reply = (req) => req.socket.destroy();
      const e = await writeError(sink());
      expect(e.retry).to.equal(true);
      expect(e.detail.status).to.equal(undefined);
    });

    it("no answer within the timeout is retried", async () => {
      reply = () => {}; // never answers
      const started = Date.now();
      const e = await writeError(sink({ timeout: 300 }));
      expect(Date.now() - started).to.be.within(250, 2000);
      expect(e.retry).to.equal(true);
      expect(e.message).to.match(/no answer within 300 ms/);
    });

    it("a kept-alive connection the server closed while idle is reopened, not reported", async () => {
      const s = sink();
      await s.write(batch());
      // Close the idle connection from the server's side, as a server's idle timeout would.
      for (const sock of sockets) sock.end();
      await new Promise((r) => setTimeout(r, 50));
      await s.write(batch());
      await s.close();
      expect(seen).to.have.length(2);
    });

    it("writeStaleMarkers posts one marker per series", async () => {
      const s = sink();
      await s.writeStaleMarkers(
        [
          { __name__: "http_requests_total", code: "200", job: "api" },
          { __name__: "http_requests_total", code: "500", job: "api" },
        ],
        1_700_000_002_000,
      );
      await s.writeStaleMarkers([], 1_700_000_002_000); // nothing to send
      await s.close();
      expect(seen).to.have.length(1);
      const body = uncompressSync(seen[0].body) as Buffer;
      expect(body.indexOf(Buffer.from([0x09, 0x02, 0, 0, 0, 0, 0, 0xf0, 0x7f]))).to.be.above(0);
      const decoded = decode(body).timeseries;
      expect(decoded.map((t) => t.labels.map((l) => l.value).join(","))).to.deep.equal(["http_requests_total,200,api", "http_requests_total,500,api"]);
      expect(decoded.every((t) => t.samples.length === 1 && t.samples[0].timestamp === 1_700_000_002_000)).to.equal(true);
    });

    describe("removal batches", () => {
      const removal = () =>
        PointBatch.removals([
          point("http", { code: "200", job: "api" }, { requests_total: 0, duration_seconds_sum: 0 }, 1_700_000_002_345_678_901n),
          point("http", { code: "500", job: "api" }, { requests_total: 0 }, 1_700_000_003_000_000_000n),
        ]);
      const MARKER = Buffer.from([0x09, 0x02, 0, 0, 0, 0, 0, 0xf0, 0x7f]);

      it("the sink accepts removals", () => {
        expect(sink().acceptsRemovals).to.equal(true);
      });

      it("are written as one staleness marker per series <measurement>_<field> + tags, at the points' times in ms", async () => {
        const s = sink();
        await s.write(removal());
        await s.close();
        expect(seen).to.have.length(1);
        expect(seen[0].url).to.equal("/api/v1/write?tenant=t1");
        expect(seen[0].headers["content-encoding"]).to.equal("snappy");
        const body = uncompressSync(seen[0].body) as Buffer;
        let markers = 0;
        for (let i = body.indexOf(MARKER); i !== -1; i = body.indexOf(MARKER, i + 1)) markers++;
        expect(markers).to.equal(3);
        const got = decode(body).timeseries.map((t) => ({
          series: t.labels.map((l) => `${l.name}=${l.value}`).join(","),
          times: t.samples.map((x) => x.timestamp),
          nan: t.samples.every((x) => Number.isNaN(x.value)),
        }));
        expect(got).to.deep.equal([
          { series: "__name__=http_requests_total,code=200,job=api", times: [1_700_000_002_345], nan: true },
          { series: "__name__=http_duration_seconds_sum,code=200,job=api", times: [1_700_000_002_345], nan: true },
          { series: "__name__=http_requests_total,code=500,job=api", times: [1_700_000_003_000], nan: true },
        ]);
      });

      it("read back from line protocol (a disk queue) they are still markers, not zeros", async () => {
        const s = sink();
        const r = removal();
        await s.write(PointBatch.fromLineProtocol(r.lineProtocol(), r.size, true));
        await s.close();
        const body = uncompressSync(seen[0].body) as Buffer;
        expect(body.indexOf(MARKER)).to.be.above(0);
        expect(decode(body).timeseries.every((t) => t.samples.every((x) => Number.isNaN(x.value)))).to.equal(true);
      });

      it("are retried and refused like any batch", async () => {
        reply = (_req, res) => res.writeHead(503, { "Retry-After": "3" }).end("busy");
        let s = sink();
        let e = await s.write(removal()).then(
          () => expect.fail("expected a 503 to fail the write"),
          (x) => x as SinkWriteError,
        );
        await s.close();
        expect(e).to.be.instanceOf(SinkWriteError);
        expect(e.retry).to.equal(true);
        expect(e.detail.retryAfterMs).to.equal(3000);
        reply = (_req, res) => res.writeHead(400).end("out of order sample");
        s = sink();
        e = await s.write(removal()).then(
          () => expect.fail("expected a 400 to fail the write"),
          (x) => x as SinkWriteError,
        );
        await s.close();
        expect(e.retry).to.equal(false);
        expect(e.detail).to.deep.equal({ status: 400, response: "out of order sample" });
      });
    });

    it("the client can be used on its own", async () => {
      const c = new RemoteWriteClient(options({ url: `${base}/w` }));
      await c.send(encodeWriteRequest([]));
      c.close();
      expect(seen[0].url).to.equal("/w");
      expect(decode(uncompressSync(seen[0].body) as Buffer).timeseries).to.deep.equal([]);
    });
  });
});
