// The influxdb sink without a real backend: its options as the config loader reads them
// (agent.conf and ENV_SINKS), and its HTTP behaviour against a small node:http server in the
// test: what it sends (one gzip body per batch, headers, authentication) and how it judges
// every kind of answer (SinkWriteError retry, Retry-After, the backend's words, how many points
// an InfluxDB answer says were refused).
import { expect } from "chai";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type net from "node:net";
import os from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { pino } from "pino";
import { PointBatch } from "../../core/batch.ts";
import { loadConfig, sinkSchema, values, type AgentConfig } from "../../core/config.ts";
import { renderEffective } from "../../core/render.ts";
import { SinkWriteError } from "../../core/errors.ts";
import { ConfigError } from "../../core/options.ts";
import type { Sink } from "../../core/plugin.ts";
import { Registry } from "../../core/registry.ts";
import influxdb, { type InfluxdbOptions } from "../../plugins/sinks/influxdb/index.ts";
import { MAX_RESPONSE_BYTES } from "../../core/http-post.ts";
import { refusedPoints } from "../../plugins/sinks/influxdb/refusal.ts";
import stdout from "../../plugins/sinks/stdout/index.ts";
import { builtinRegistry } from "../../plugins/index.ts";

const log = pino({ level: "silent" });
const registry = new Registry().addSink(stdout).addSink(influxdb);
const tempDirs: string[] = [];

function load(agentConf: string | undefined, env: Record<string, string> = {}): AgentConfig {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pushkit-influxdb-"));
  tempDirs.push(dir);
  if (agentConf !== undefined) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "agent.conf"), agentConf);
  }
  return loadConfig({ confDir: dir, env, registry });
}

/** The settings of the one influxdb sink of an agent.conf holding `table` under [[sinks.influxdb]]. */
function sinkValues(table: string): Record<string, unknown> {
  const config = load(`[[sinks.influxdb]]\n${table}\n`);
  expect(config.sinks.map((s) => s.type)).to.deep.equal(["influxdb"]);
  return values(config.sinks[0].settings);
}

function loadError(agentConf: string | undefined, env: Record<string, string> = {}): string {
  try {
    load(agentConf, env);
  } catch (e) {
    expect(e).to.be.instanceOf(ConfigError);
    return (e as Error).message;
  }
  expect.fail("the configuration was accepted");
}

function tableError(table: string): string {
  return loadError(`[[sinks.influxdb]]\n${table}\n`);
}

function defaultsWith(o: Partial<InfluxdbOptions>): InfluxdbOptions {
  const d = Object.fromEntries(Object.entries(influxdb.options).map(([k, spec]) => [k, spec.default])) as InfluxdbOptions;
  return { ...d, ...o };
}

const createdSinks: Sink[] = [];
function makeSink(o: Partial<InfluxdbOptions>): Sink {
  const sink = influxdb.create(defaultsWith(o), { log });
  createdSinks.push(sink);
  return sink;
}

function batchOf(...lines: string[]): PointBatch {
  return PointBatch.fromLineProtocol(lines.map((l) => Buffer.from(`${l}\n`)), lines.length);
}

/** Rejection of a write, which must be a SinkWriteError. */
async function writeError(sink: Sink, batch = batchOf("m,t=a v=1 1")): Promise<SinkWriteError> {
  try {
    await sink.write(batch);
  } catch (e) {
    expect(e).to.be.instanceOf(SinkWriteError);
    return e as SinkWriteError;
  }
  expect.fail("the write succeeded");
}

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  socket: net.Socket;
}

type Handler = (req: Received, res: http.ServerResponse) => void;

/** A backend stand-in: records every request, answers with the handler (204 by default). */
class FakeBackend {
  received: Received[] = [];
  handler: Handler = (_req, res) => res.writeHead(204).end();
  connections = 0;
  closedConnections = 0;
  private server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (d: Buffer) => parts.push(d));
    req.on("end", () => {
      const r: Received = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(parts), socket: req.socket };
      this.received.push(r);
      this.handler(r, res);
    });
  });
  url = "";

  async start(): Promise<void> {
    this.server.on("connection", (s: net.Socket) => {
      this.connections++;
      s.on("close", () => this.closedConnections++);
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  reset(): void {
    this.received = [];
    this.handler = (_req, res) => res.writeHead(204).end();
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("sink influxdb (unit)", () => {
  after(async () => {
    for (const s of createdSinks) await s.close();
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });

  describe("options", () => {
    it("is registered in the built-in registry under influxdb with the influxdb+http(s) schemes", () => {
      const builtin = builtinRegistry();
      expect(builtin.sinks.get("influxdb")).to.equal(influxdb);
      expect(builtin.sinkForScheme("influxdb+http")).to.equal(influxdb);
      expect(builtin.sinkForScheme("influxdb+https")).to.equal(influxdb);
    });

    it("has network delivery defaults and the documented option defaults", () => {
      // (The delivery stage's other options and their defaults are its own.)
      expect(sinkValues('url = "http://127.0.0.1:8086/write?db=metrics"')).to.deep.include({
        batch_points: 5000,
        flush_interval: 1000,
        url: "http://127.0.0.1:8086/write?db=metrics",
        username: "",
        password: "",
        token: "",
        headers: {},
        gzip: true,
        timeout: 10_000,
      });
    });

    it("reads every option from agent.conf", () => {
      const v = sinkValues(
        [
          'url = "https://influx.example:8086/api/v2/write?org=acme&bucket=metrics&precision=ns"',
          'token = "s3cr3t"',
          'headers = { X-Scope-OrgID = "team-a", "X-Extra" = "1" }',
          "gzip = false",
          'timeout = "2s500ms"',
          "batch_points = 1000",
        ].join("\n"),
      );
      expect(v).to.include({ url: "https://influx.example:8086/api/v2/write?org=acme&bucket=metrics&precision=ns", token: "s3cr3t", gzip: false, timeout: 2500, batch_points: 1000 });
      expect(v.headers).to.deep.equal({ "X-Scope-OrgID": "team-a", "X-Extra": "1" });
    });

    it("requires url", () => {
      expect(tableError('token = "x"')).to.match(/\[sinks\.influxdb\]: key "url" is required/);
    });

    it("refuses a url that is not http(s), holds credentials, has no path or a fragment", () => {
      expect(tableError('url = ""')).to.match(/key "url": must not be empty: the URL the line protocol is POSTed to, e\.g\. http:\/\/127\.0\.0\.1:8086\/write\?db=metrics/);
      expect(tableError('url = "127.0.0.1:8086/write"')).to.match(/key "url": must be an http:\/\/ or https:\/\/ URL, got "127\.0\.0\.1:8086\/write"/);
      expect(tableError('url = "localhost:8086/write"')).to.match(/key "url": must be an http:\/\/ or https:\/\/ URL, got "localhost:8086\/write"/);
      expect(tableError('url = "http://ho st/write"')).to.match(/key "url": "http:\/\/ho st\/write" is not a URL/);
      expect(tableError('url = "ftp://host/write"')).to.match(/key "url": must be an http:\/\/ or https:\/\/ URL, got "ftp:\/\/"/);
      expect(tableError('url = "http://u:pw@host:8086/write?db=x"')).to.match(/key "url": must not hold credentials: set the username and password options \(or token\) instead/);
      expect(tableError('url = "http://host:8086"')).to.match(/key "url": needs the write path, not just the server: e\.g\./);
      expect(tableError('url = "http://host:8086/write?db=x#top"')).to.match(/key "url": must not have a #fragment/);
    });

    it("refuses a precision other than nanoseconds, and an InfluxDB 2.x URL without bucket or org", () => {
      expect(tableError('url = "http://host:8086/write?db=x&precision=ms"')).to.match(/has precision=ms, but pushkit writes nanosecond timestamps/);
      expect(sinkValues('url = "http://host:9529/v1/write/metric?precision=n"').url).to.equal("http://host:9529/v1/write/metric?precision=n");
      expect(tableError('url = "http://host:8086/api/v2/write?org=acme"')).to.match(/\/api\/v2\/write\) needs \?bucket=BUCKET/);
      expect(tableError('url = "http://host:8086/api/v2/write?bucket=b"')).to.match(/\/api\/v2\/write\) needs \?org=ORG \(or orgID=ID\)/);
      expect(sinkValues('url = "http://host:8086/api/v2/write?orgID=0123&bucket=b"').url).to.equal("http://host:8086/api/v2/write?orgID=0123&bucket=b");
      // VictoriaMetrics' alias of the 2.x API takes neither.
      expect(sinkValues('url = "http://host:8428/influx/api/v2/write"').url).to.equal("http://host:8428/influx/api/v2/write");
    });

    it("refuses header names that are invalid or belong to the sink, a too short timeout, control characters in credentials", () => {
      expect(tableError('url = "http://h/write"\nheaders = { "Bad Header" = "x" }')).to.match(/key "headers": "Bad Header" is not a valid HTTP header name/);
      expect(tableError('url = "http://h/write"\nheaders = { Content-Encoding = "br" }')).to.match(/key "headers": header "Content-Encoding" is set by the sink itself/);
      expect(tableError('url = "http://h/write"\nheaders = { content-length = "1" }')).to.match(/header "content-length" is set by the sink itself/);
      expect(tableError('url = "http://h/write"\ntimeout = "50ms"')).to.match(/key "timeout": must be at least 100ms/);
      expect(tableError('url = "http://h/write"\ntoken = "abc\\n"')).to.match(/key "token": token must not contain control characters \(a trailing newline\?\)/);
      expect(tableError('url = "http://h/write"\nusername = "a:b"')).to.match(/key "username": username must not contain ":"/);
    });

    it("refuses token together with username, a password without username, and a second Authorization, when the sink is created", () => {
      const create = (o: Partial<InfluxdbOptions>) => () => influxdb.create(defaultsWith({ url: "http://h:8086/write?db=x&p=hidden", ...o }), { log });
      expect(create({ token: "t", username: "u" })).to.throw(ConfigError, /^sink influxdb \(http:\/\/h:8086\/write\?db=x&p=xxx\): both token and username are set; use token .* or username\/password .*, not both$/);
      expect(create({ password: "pw" })).to.throw(ConfigError, /password is set without username/);
      expect(create({ token: "t", headers: { authorization: "Bearer x" } })).to.throw(ConfigError, /headers sets "authorization" and token is set too/);
      expect(create({ headers: { "X-A": "a\r\nX-Injected: 1" } })).to.throw(ConfigError, /headers "X-A": the value must not contain control characters/);
      expect(create({ username: "u", password: "pw" })).not.to.throw();
      expect(create({ headers: { Authorization: "Bearer x" } })).not.to.throw();
    });

    it("check-config shows that password, token, p= and credential-like headers are set, not their values", () => {
      const config = load(
        '[[sinks.influxdb]]\nurl = "http://h:8086/write?db=x&u=me&p=pw1"\nusername = "u"\npassword = "hunter2"\n' +
          '[[sinks.influxdb]]\nurl = "http://h:8086/api/v2/write?org=o&bucket=b"\ntoken = "tok"\nheaders = { X-Api-Key = "k1", X-Team = "a" }\n',
      );
      const text = renderEffective(config, () => ({}), (t) => sinkSchema(registry.sinks.get(t)!));
      expect(text).to.match(/^ {2}password = "\*\*\*" +# file /m);
      expect(text).to.match(/^ {2}token = "\*\*\*" +# file /m);
      expect(text).to.match(/^ {2}token = "" +# default$/m);
      expect(text).to.match(/^ {2}username = "u" +# file /m);
      expect(text).not.to.include("hunter2");
      expect(text).not.to.include('"tok"');
      expect(text).to.match(/^ {2}url = "http:\/\/h:8086\/write\?db=x&u=me&p=xxx" +# file /m);
      expect(text).to.match(/^ {2}headers = \{ X-Api-Key = "\*\*\*", X-Team = "a" \} +# file /m);
    });
  });

  describe("ENV_SINKS", () => {
    it("influxdb+http://host:port/path?query is the url without the prefix", () => {
      const config = load(undefined, { ENV_SINKS: "influxdb+http://127.0.0.1:8086/write?db=metrics&precision=ns" });
      expect(config.sinks.map((s) => s.type)).to.deep.equal(["influxdb"]);
      expect(config.sinks[0].settings.url).to.deep.equal({ value: "http://127.0.0.1:8086/write?db=metrics&precision=ns", source: { kind: "env", name: "ENV_SINKS" } });
      expect(config.sinks[0].settings.username.source).to.deep.equal({ kind: "default" });
    });

    it("influxdb+https:// with user-info gives username and password (percent-decoded) and a url without them", () => {
      const config = load(undefined, { ENV_SINKS: "influxdb+https://writer:p%40ss%2Cw0rd@Influx.Example:8443/write?db=x, stdout://" });
      expect(config.sinks.map((s) => s.type)).to.deep.equal(["influxdb", "stdout"]);
      expect(values(config.sinks[0].settings)).to.include({ url: "https://influx.example:8443/write?db=x", username: "writer", password: "p@ss,w0rd" });
    });

    it("a DataKit URL with its own query, and the default port dropped from https", () => {
      const config = load(undefined, { ENV_SINKS: "influxdb+https://dk.example:443/v1/write/metric?input=pushkit&precision=n" });
      expect(config.sinks[0].settings.url.value).to.equal("https://dk.example/v1/write/metric?input=pushkit&precision=n");
    });

    it("a URL the url option refuses is an error naming ENV_SINKS and the URL", () => {
      expect(loadError(undefined, { ENV_SINKS: "influxdb+http://127.0.0.1:8086" })).to.match(
        /^ENV_SINKS "influxdb\+http:\/\/127\.0\.0\.1:8086" key "url": needs the write path/,
      );
      expect(loadError(undefined, { ENV_SINKS: "influxdb+http://h:8086/write?precision=s" })).to.match(/has precision=s/);
    });
  });

  describe("how many points an answer refused", () => {
    // InfluxDB 1.6's own answers (the "error" of its JSON body), for the batches named.
    const BAD = "bad,job=y v=1 9223372036854775808000000";
    const BAD2 = "bad2 v=1 9223372036854775808000001";
    const why = (line: string) => `unable to parse '${line}': strconv.ParseInt: parsing "${line.slice(line.lastIndexOf(" ") + 1)}": value out of range`;
    const body = (error: string) => JSON.stringify({ error });

    it("a partial write of unparsable lines: each line it quotes (dropped says 0)", () => {
      expect(refusedPoints(body(`partial write: ${why(BAD)} dropped=0`), 3)).to.equal(1);
      expect(refusedPoints(body(`partial write: ${why(BAD)}\n${why(BAD2)} dropped=0`), 4)).to.equal(2);
    });

    it("a partial write for another reason: dropped=N", () => {
      expect(refusedPoints(body('partial write: field type conflict: input field "v" on measurement "a" is type integer, already exists as type float dropped=1'), 2)).to.equal(1);
      expect(refusedPoints(body('partial write: field type conflict: input field "v" on measurement "a" is type string, already exists as type float dropped=2'), 2)).to.equal(2);
    });

    it("every line unparsable: each line it quotes, which is all of them", () => {
      expect(refusedPoints(body(why(BAD)), 1)).to.equal(1);
      expect(refusedPoints(body(`${why(BAD)}\n${why(BAD2)}`), 2)).to.equal(2);
    });

    it("a quoted line holding the answer's own words is counted once", () => {
      const tricky = `m s="partial write: unable to parse 'q' dropped=9\\nunable to parse 'r'" 9223372036854775808000000`;
      expect(refusedPoints(body(`partial write: ${why(tricky)} dropped=0`), 5)).to.equal(1);
      expect(refusedPoints(body(why(tricky)), 5)).to.equal(1);
    });

    it("a refusal of the request itself (no line named): all of them; an answer cut short: not known", () => {
      expect(refusedPoints(body("database is required"), 7)).to.equal(7);
      expect(refusedPoints("<html>400 Bad Request</html>", 7)).to.equal(7);
      expect(refusedPoints(`{"error":"partial write: ${why(BAD).slice(0, 30)}`, 7)).to.equal(1);
      expect(refusedPoints(`{"error":"${why(BAD).slice(0, 30)}`, 7)).to.equal(undefined);
      expect(refusedPoints(body("partial write: something new"), 7)).to.equal(undefined);
    });

    it("InfluxDB 2.x's {code, message}", () => {
      expect(refusedPoints(JSON.stringify({ code: "invalid", message: `${why(BAD)}` }), 3)).to.equal(1);
      expect(refusedPoints(JSON.stringify({ code: "unprocessable entity", message: "failure writing points to database: partial write: points beyond retention policy dropped=1" }), 3)).to.equal(1);
    });
  });

  describe("writes", function () {
    this.timeout(10_000);
    const backend = new FakeBackend();
    before(() => backend.start());
    after(() => backend.stop());
    beforeEach(() => backend.reset());

    it("POSTs one gzip body per batch, to the url with its query, that decodes to exactly the batch's line protocol", async () => {
      const sink = makeSink({ url: `${backend.url}/write?db=metrics&precision=ns` });
      const batch = PointBatch.concat([
        batchOf("cpu,host=a usage=0.5 1700000000000000000", "cpu,host=b usage=1.5 1700000000000000001"),
        PointBatch.fromPoints([{ measurement: "mem x", tags: { "k=": "v,1" }, fields: { free: 1e21, n: -0 }, time: 1700000000123456789n }]),
      ]);
      const expected = Buffer.concat(batch.lineProtocol());
      await sink.write(batch);
      expect(backend.received).to.have.length(1);
      const r = backend.received[0];
      expect(r.method).to.equal("POST");
      expect(r.url).to.equal("/write?db=metrics&precision=ns");
      expect(r.headers["content-encoding"]).to.equal("gzip");
      expect(r.headers["content-type"]).to.equal("text/plain; charset=utf-8");
      expect(r.headers["content-length"]).to.equal(String(r.body.length));
      expect(r.headers.authorization).to.equal(undefined);
      expect(gunzipSync(r.body).equals(expected)).to.equal(true);
      expect(gunzipSync(r.body).toString()).to.equal(
        "cpu,host=a usage=0.5 1700000000000000000\ncpu,host=b usage=1.5 1700000000000000001\nmem\\ x,k\\==v\\,1 free=1e+21,n=-0 1700000000123456789\n",
      );
    });

    it("with gzip = false sends the line protocol as is", async () => {
      const sink = makeSink({ url: `${backend.url}/write`, gzip: false });
      await sink.write(batchOf("a v=1 1", "b v=2 2"));
      const r = backend.received[0];
      expect(r.headers["content-encoding"]).to.equal(undefined);
      expect(r.body.toString()).to.equal("a v=1 1\nb v=2 2\n");
      expect(r.headers["content-length"]).to.equal("16");
    });

    it("sends basic authentication, Authorization: Token, and the extra headers", async () => {
      await makeSink({ url: `${backend.url}/write?db=x`, username: "writer", password: "pä:ss" }).write(batchOf("a v=1 1"));
      await makeSink({ url: `${backend.url}/api/v2/write?org=o&bucket=b`, token: "tok-123==" }).write(batchOf("a v=1 1"));
      await makeSink({ url: `${backend.url}/v1/write/metric`, headers: { "X-Scope-OrgID": "team-a", "content-type": "text/x-lp" } }).write(batchOf("a v=1 1"));
      const [basic, token, extra] = backend.received;
      expect(basic.headers.authorization).to.equal(`Basic ${Buffer.from("writer:pä:ss").toString("base64")}`);
      expect(token.headers.authorization).to.equal("Token tok-123==");
      expect(token.url).to.equal("/api/v2/write?org=o&bucket=b");
      expect(extra.headers["x-scope-orgid"]).to.equal("team-a");
      expect(extra.headers["content-type"]).to.equal("text/x-lp");
      expect(extra.headers.authorization).to.equal(undefined);
    });

    it("resolves on 204 and on 200 with a body", async () => {
      const sink = makeSink({ url: `${backend.url}/write` });
      await sink.write(batchOf("a v=1 1"));
      backend.handler = (_req, res) => res.writeHead(200, { "Content-Type": "application/json" }).end('{"ok":true}');
      await sink.write(batchOf("a v=1 1"));
      expect(backend.received).to.have.length(2);
    });

    it("reuses one kept-alive connection and closes it in close()", async () => {
      const before = backend.connections;
      const closedBefore = backend.closedConnections;
      const sink = influxdb.create(defaultsWith({ url: `${backend.url}/write` }), { log });
      for (let i = 0; i < 5; i++) await sink.write(batchOf(`a v=${i} ${i}`));
      expect(backend.connections - before).to.equal(1);
      expect(new Set(backend.received.map((r) => r.socket)).size).to.equal(1);
      await sink.close();
      const until = Date.now() + 2000;
      while (backend.closedConnections - closedBefore < 1 && Date.now() < until) await sleep(10);
      expect(backend.closedConnections - closedBefore).to.equal(1);
    });

    it("sends again on a fresh connection when the server dropped the kept-alive one, without reporting an error", async () => {
      const sink = makeSink({ url: `${backend.url}/write` });
      await sink.write(batchOf("a v=1 1"));
      const first = backend.received[0].socket;
      // The server gives up on the idle connection as the next request arrives on it.
      backend.handler = (req, res) => (req.socket === first ? req.socket.destroy() : res.writeHead(204).end());
      await sink.write(batchOf("a v=2 2"));
      expect(backend.received).to.have.length(3);
      expect(backend.received[2].socket).not.to.equal(first);
      expect(gunzipSync(backend.received[2].body).toString()).to.equal("a v=2 2\n");
    });

    it("400: retry false, with the status, the backend's whole answer, the URL without secrets and the start of the answer in the message", async () => {
      const answer = '{"error":"partial write: field type conflict: input field \\"v\\" on measurement \\"m\\" is type float, already exists as type integer dropped=1"}';
      backend.handler = (_req, res) => res.writeHead(400, { "Content-Type": "application/json", "Retry-After": "5" }).end(answer);
      const e = await writeError(makeSink({ url: `${backend.url}/write?db=x&u=writer&p=secret`, gzip: false }));
      expect(e.retry).to.equal(false);
      expect(e.detail).to.deep.equal({ status: 400, response: answer, refused: 1 });
      expect(e.message).to.equal(
        `POST ${backend.url}/write?db=x&u=writer&p=xxx: 400 Bad Request: ${answer}; the backend refused this batch, sending it again cannot help`,
      );
      expect(e.message).not.to.include("secret");
    });

    it("a refusal of points (400, 422) says how many InfluxDB refused; other refusals do not", async () => {
      const lines = ["a,job=x v=1 1700000000000000000", "bad,job=y v=1 9223372036854775808000000", "c,job=z v=2 1700000000000000000"];
      const partial = JSON.stringify({ error: `partial write: unable to parse '${lines[1]}': strconv.ParseInt: parsing "9223372036854775808000000": value out of range dropped=0` });
      backend.handler = (_req, res) => res.writeHead(400, { "Content-Type": "application/json" }).end(partial);
      const e = await writeError(makeSink({ url: `${backend.url}/write?db=x` }), batchOf(...lines));
      expect(e.detail).to.deep.include({ status: 400, refused: 1 });
      backend.handler = (_req, res) => res.writeHead(422).end(JSON.stringify({ code: "unprocessable entity", message: "failure writing points to database: partial write: points beyond retention policy dropped=2" }));
      expect((await writeError(makeSink({ url: `${backend.url}/api/v2/write?org=o&bucket=b` }), batchOf(...lines))).detail.refused).to.equal(2);
      for (const status of [401, 404, 413]) {
        backend.handler = (_req, res) => res.writeHead(status).end(partial);
        expect((await writeError(makeSink({ url: `${backend.url}/write?db=x` }), batchOf(...lines))).detail, String(status)).not.to.have.property("refused");
      }
    });

    it("other 4xx (401, 403, 404, 413, 422) and 3xx: retry false", async () => {
      for (const status of [401, 403, 404, 413, 422, 301]) {
        backend.handler = (_req, res) => res.writeHead(status, status === 301 ? { Location: "https://elsewhere/write" } : {}).end(`refused ${status}`);
        const e = await writeError(makeSink({ url: `${backend.url}/write` }));
        expect(e.retry, String(status)).to.equal(false);
        expect(e.detail.status).to.equal(status);
        expect(e.detail.response).to.equal(`refused ${status}`);
        expect(e.message).to.include(`: ${status} ${http.STATUS_CODES[status]}: refused ${status}`);
      }
      backend.handler = (_req, res) => res.writeHead(301, { Location: "https://elsewhere/write" }).end();
      expect((await writeError(makeSink({ url: `${backend.url}/write` }))).message).to.include(
        "301 Moved Permanently (redirects to https://elsewhere/write are not followed: set url to the final address)",
      );
    });

    it("408, 429 and 5xx: retry true, with Retry-After in seconds or as an HTTP date", async () => {
      for (const status of [408, 429, 500, 502, 503, 504]) {
        backend.handler = (_req, res) => res.writeHead(status).end("busy");
        const e = await writeError(makeSink({ url: `${backend.url}/write` }));
        expect(e.retry, String(status)).to.equal(true);
        expect(e.detail).to.deep.equal({ status, response: "busy" });
      }
      backend.handler = (_req, res) => res.writeHead(429, { "Retry-After": "7" }).end("slow down");
      let e = await writeError(makeSink({ url: `${backend.url}/write` }));
      expect(e.detail).to.deep.equal({ status: 429, retryAfterMs: 7000, response: "slow down" });
      expect(e.message).to.equal(`POST ${backend.url}/write: 429 Too Many Requests: slow down (Retry-After 7s)`);

      const date = new Date(Date.now() + 30_000).toUTCString();
      backend.handler = (_req, res) => res.writeHead(503, { "Retry-After": date }).end();
      e = await writeError(makeSink({ url: `${backend.url}/write` }));
      expect(e.retry).to.equal(true);
      expect(e.detail.retryAfterMs).to.be.within(28_000, 30_000);
      expect(e.detail.response).to.equal("");
    });

    it("quotes InfluxDB's X-Influxdb-Error header when the body is empty, and only the start of a long answer", async () => {
      backend.handler = (_req, res) => res.writeHead(400, { "X-Influxdb-Error": "unable to parse 'x': missing fields" }).end();
      expect((await writeError(makeSink({ url: `${backend.url}/write` }))).message).to.include("400 Bad Request: unable to parse 'x': missing fields;");
      const long = "x".repeat(MAX_RESPONSE_BYTES + 5000);
      backend.handler = (_req, res) => res.writeHead(500).end(`start\n\n   ${long}`);
      const e = await writeError(makeSink({ url: `${backend.url}/write` }));
      expect(e.message).to.equal(`POST ${backend.url}/write: 500 Internal Server Error: start ${"x".repeat(294)}...`);
      expect(e.detail.response).to.have.length(MAX_RESPONSE_BYTES);
    });

    it("a refused connection: retry true, naming the URL", async () => {
      const e = await writeError(makeSink({ url: "http://127.0.0.1:1/write?db=x" }));
      expect(e.retry).to.equal(true);
      expect(e.detail).to.deep.equal({});
      expect(e.message).to.match(/^POST http:\/\/127\.0\.0\.1:1\/write\?db=x failed: connect ECONNREFUSED 127\.0\.0\.1:1$/);
    });

    it("no answer within timeout: retry true, and the connection is given up", async () => {
      backend.handler = () => {};
      const started = Date.now();
      const e = await writeError(makeSink({ url: `${backend.url}/write`, timeout: 300 }));
      expect(Date.now() - started).to.be.within(250, 2000);
      expect(e.retry).to.equal(true);
      expect(e.message).to.equal(`POST ${backend.url}/write failed: no complete answer within 300ms (timeout)`);
    });

    it("the connection closed in the middle of the answer: retry true", async () => {
      backend.handler = (req, res) => {
        res.writeHead(200, { "Content-Length": "100" });
        res.write("partial", () => req.socket.destroy());
      };
      const e = await writeError(makeSink({ url: `${backend.url}/write` }));
      expect(e.retry).to.equal(true);
      expect(e.message).to.match(new RegExp(`^POST ${backend.url}/write failed: `));
    });
  });
});
