// core/http-post.ts on its own: the helpers both network sinks share, and the poster's
// judgement of answers with its default wording, against a small node:http server in the test.
// (Each sink's own tests check its headers and wording end to end.)
import { expect } from "chai";
import http from "node:http";
import type net from "node:net";
import { SinkWriteError } from "../../core/errors.ts";
import { HttpPoster, USER_AGENT, displayUrl, mergeHeaders, parseRetryAfter, retryableStatus, snippet } from "../../core/http-post.ts";

describe("core/http-post", () => {
  describe("helpers", () => {
    it("parseRetryAfter reads delay-seconds and HTTP dates, and nothing else", () => {
      const now = Date.parse("Sun, 06 Nov 1994 08:49:37 GMT");
      expect(parseRetryAfter("120", now)).to.equal(120_000);
      expect(parseRetryAfter(" 0 ", now)).to.equal(0);
      expect(parseRetryAfter("Sun, 06 Nov 1994 08:50:37 GMT", now)).to.equal(60_000);
      expect(parseRetryAfter("Sunday, 06-Nov-94 08:49:47 GMT", now)).to.equal(10_000);
      expect(parseRetryAfter("Sun, 06 Nov 1994 08:40:00 GMT", now)).to.equal(0);
      expect(parseRetryAfter(undefined, now)).to.equal(undefined);
      expect(parseRetryAfter("", now)).to.equal(undefined);
      expect(parseRetryAfter("soon", now)).to.equal(undefined);
      expect(parseRetryAfter("-5", now)).to.equal(undefined);
      expect(parseRetryAfter("5.5", now)).to.equal(5500);
      expect(parseRetryAfter(["3", "9"], now)).to.equal(3000);
    });

    it("parseRetryAfter: seconds or an HTTP date, relative to now", () => {
      expect(parseRetryAfter("7")).to.equal(7000);
      expect(parseRetryAfter(" 0 ")).to.equal(0);
      expect(parseRetryAfter(new Date(1_000_000 + 30_000).toUTCString(), 1_000_000)).to.equal(30_000);
      expect(parseRetryAfter(new Date(0).toUTCString(), 1_000_000)).to.equal(0);
      expect(parseRetryAfter("soon")).to.equal(undefined);
      expect(parseRetryAfter(undefined)).to.equal(undefined);
    });

    it("displayUrl leaves out user-info and masks secret query values", () => {
      expect(displayUrl("http://u:pw@h:8086/write?db=x&u=me&p=pw")).to.equal("http://h:8086/write?db=x&u=me&p=xxx");
      expect(displayUrl("https://h/api/v2/write?org=o&bucket=b")).to.equal("https://h/api/v2/write?org=o&bucket=b");
      expect(displayUrl("https://h/v1/write/metric?token=tkn_abc")).to.equal("https://h/v1/write/metric?token=xxx");
      expect(displayUrl(new URL("http://h/api/v1/write?Password=a&tenant=t1"))).to.equal("http://h/api/v1/write?Password=xxx&tenant=t1");
    });

    it("retryableStatus: 408, 429 and 5xx", () => {
      expect([200, 301, 400, 404, 408, 413, 429, 500, 503, 599].filter(retryableStatus)).to.deep.equal([408, 429, 500, 503, 599]);
    });

    it("mergeHeaders: a later name replaces an earlier one whatever its case", () => {
      expect(mergeHeaders({ "Content-Type": "a", "User-Agent": "u" }, { "content-type": "b" }, { "X-A": "1" })).to.deep.equal({ "User-Agent": "u", "content-type": "b", "X-A": "1" });
    });

    it("snippet collapses whitespace and keeps the start", () => {
      expect(snippet("  a\n\n  b\t c  ")).to.equal("a b c");
      expect(snippet("x".repeat(10), 4)).to.equal("xxxx...");
    });
  });

  describe("HttpPoster with the default wording", function () {
    this.timeout(10_000);
    let server: http.Server;
    let base: string;
    let reply: (req: http.IncomingMessage, res: http.ServerResponse) => void;
    const seen: { headers: http.IncomingHttpHeaders; body: Buffer }[] = [];
    const posters: HttpPoster[] = [];
    const poster = (headers: Record<string, string> = {}) => {
      const p = new HttpPoster({ url: `${base}/in?token=s3cret`, headers, timeoutMs: 2000 });
      posters.push(p);
      return p;
    };

    before(async () => {
      server = http.createServer((req, res) => {
        const parts: Buffer[] = [];
        req.on("data", (d: Buffer) => parts.push(d));
        req.on("end", () => {
          seen.push({ headers: req.headers, body: Buffer.concat(parts) });
          reply(req, res);
        });
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    });
    after(async () => {
      for (const p of posters) p.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    });
    beforeEach(() => {
      seen.length = 0;
      reply = (_req, res) => res.writeHead(204).end();
    });

    async function failure(p: HttpPoster): Promise<SinkWriteError> {
      try {
        await p.post(Buffer.from("x"));
      } catch (e) {
        expect(e).to.be.instanceOf(SinkWriteError);
        return e as SinkWriteError;
      }
      expect.fail("the POST succeeded");
    }

    it("sends the chunks as one body with Content-Length and pushkit's User-Agent unless the headers name one", async () => {
      await poster({ "X-A": "1" }).post([Buffer.from("ab"), Buffer.from("cd")]);
      await poster({ "user-agent": "mine/2" }).post(Buffer.from("e"));
      expect(seen.map((s) => s.body.toString())).to.deep.equal(["abcd", "e"]);
      expect(seen[0].headers["content-length"]).to.equal("4");
      expect(seen[0].headers["user-agent"]).to.equal(USER_AGENT).and.to.match(/^pushkit\/\d+\.\d+\.\d+/);
      expect(seen[0].headers["x-a"]).to.equal("1");
      expect(seen[1].headers["user-agent"]).to.equal("mine/2");
    });

    it("a refusal keeps no Retry-After (it is not sent again); the URL shows no secret", async () => {
      reply = (_req, res) => res.writeHead(422, { "Retry-After": "5" }).end("no\n");
      const e = await failure(poster());
      expect(e.retry).to.equal(false);
      expect(e.detail).to.deep.equal({ status: 422, response: "no\n" });
      expect(e.message).to.equal(`POST ${base}/in?token=xxx: 422 Unprocessable Entity: no; the backend refused this batch, sending it again cannot help`);
    });

    it("a retryable status carries Retry-After", async () => {
      reply = (_req, res) => res.writeHead(503, { "Retry-After": "2" }).end();
      const e = await failure(poster());
      expect(e.retry).to.equal(true);
      expect(e.detail).to.deep.equal({ status: 503, retryAfterMs: 2000, response: "" });
      expect(e.message).to.equal(`POST ${base}/in?token=xxx: 503 Service Unavailable (Retry-After 2s)`);
    });
  });
});
