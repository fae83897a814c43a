// The pieces of the HTTP server's protection, one by one: credentials files, the
// authenticator, the browser policy, the rate limiter and the file reloader.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import bcrypt from "bcryptjs";
import { expect } from "chai";
import pino from "pino";
import { Authenticator, makeUsers } from "../../core/security/authenticator.ts";
import { BrowserPolicy } from "../../core/security/browser.ts";
import { CredentialsFileError, parseTokensFile, parseUsersFile } from "../../core/security/credentials.ts";
import { FileReloader } from "../../core/security/file-reloader.ts";
import { checkSecurityOptions, type SecurityOptions } from "../../core/security/http-security.ts";
import { clientAddress, RateLimiter } from "../../core/security/rate-limit.ts";

const TOKEN_A = "0123456789abcdef0123456789abcdef";
const TOKEN_B = "fedcba9876543210fedcba9876543210";

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
}

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).to.be.instanceOf(CredentialsFileError);
    return (e as Error).message;
  }
  throw new Error("expected a CredentialsFileError");
}

describe("security: credentials files", () => {
  it("reads tokens with scopes, comments and blank lines; no scopes grants all", () => {
    const tokens = parseTokensFile(`# pushers\n${TOKEN_A} push\n\n${TOKEN_B} read,admin  # the dashboard\nabcdefghijklmnopqrstuvwxyz==\n`, "tokens");
    expect(tokens.map((t) => [...t.scopes].sort())).to.deep.equal([["push"], ["admin", "read"], ["admin", "push", "read"]]);
    expect(parseTokensFile(`${TOKEN_A} push read`, "t")[0].scopes).to.have.all.keys("push", "read");
  });

  it("refuses a bad token file naming file and line, never the token", () => {
    for (const [text, want] of [
      [`${TOKEN_A}\nshort-token\n`, "tokens:2: the token is shorter than 16 characters"],
      [`${TOKEN_A} write`, 'tokens:1: unknown scope "write"'],
      [`${TOKEN_A}\n${TOKEN_A} read`, "tokens:2: the same token is listed twice"],
      ["tok\u00e9n-with-accent-0123456789", "tokens:1: the token has characters a client cannot send"],
      ["# nothing\n\n", "tokens: no tokens in the file"],
    ] as const) {
      const message = refusal(() => parseTokensFile(text, "tokens"));
      expect(message).to.contain(want);
      expect(message).not.to.contain(TOKEN_A);
      expect(message).not.to.contain("short-token");
    }
  });

  it("reads htpasswd bcrypt lines ($2y$ as htpasswd -B writes, $2a$, $2b$) with optional scopes", async () => {
    const h = await bcrypt.hash("pw", 4);
    const users = parseUsersFile(`alice:${h.replace("$2b$", "$2y$")}\nbob:${h.replace("$2b$", "$2a$")} read\ncarol:${h} push,admin\n`, "users");
    expect([...users.keys()]).to.deep.equal(["alice", "bob", "carol"]);
    expect([...users.get("bob")!.scopes]).to.deep.equal(["read"]);
    expect(users.get("alice")!.cost).to.equal(4);
  });

  it("refuses other hash kinds at once, saying which kind it is", () => {
    for (const [line, want] of [
      ["u:$apr1$xyz$abcdefghijklmnopqrstuv", "MD5 (apr1)"],
      ["u:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "SHA-1"],
      ["u:abcdefghijklm", "crypt(3)"],
      ["u:hunter2", "plain-text"],
      ["u:$2y$05$tooshort", "malformed bcrypt"],
      ["no-colon", 'expected "user:bcrypt-hash"'],
    ]) {
      const message = refusal(() => parseUsersFile(line, "users"));
      expect(message).to.contain("users:1").and.to.contain(want);
      expect(message).not.to.contain("hunter2");
    }
  });
});

describe("security: authenticator", () => {
  let auth: Authenticator;
  before(async () => {
    auth = new Authenticator();
    auth.tokens = parseTokensFile(`${TOKEN_A} push\n${TOKEN_B}\n`, "t");
    auth.users = await makeUsers(parseUsersFile(`alice:${await bcrypt.hash("wonderland", 5)} read\n`, "u"));
  });

  it("accepts a listed token with its scopes and refuses others", async () => {
    expect(await auth.check(`Bearer ${TOKEN_A}`)).to.deep.include({ kind: "ok", who: "bearer token #1" });
    expect(await auth.check(`bearer ${TOKEN_B}`)).to.deep.include({ kind: "ok", who: "bearer token #2" });
    const wrong = await auth.check(`Bearer ${TOKEN_A.slice(0, -1)}0`);
    expect(wrong).to.deep.equal({ kind: "unauthenticated", reason: "the bearer token is not valid" });
    expect(await auth.check(undefined)).to.deep.equal({ kind: "unauthenticated", reason: "no credentials" });
    expect(await auth.check(`Digest ${TOKEN_A}`)).to.deep.include({ kind: "unauthenticated" });
  });

  it("checks basic-auth passwords with bcrypt; an unknown user and a wrong password get the same answer", async () => {
    const ok = await auth.check(basic("alice", "wonderland"));
    expect(ok.kind).to.equal("ok");
    expect(ok.kind === "ok" && [...ok.scopes]).to.deep.equal(["read"]);
    expect(await auth.check(basic("alice", "wrong"))).to.deep.equal(await auth.check(basic("mallory", "wonderland")));
    expect(await auth.check(`Basic ${Buffer.from("nocolon").toString("base64")}`)).to.deep.include({ kind: "unauthenticated" });
    // Strict base64 as RFC 7617 has it: Node's lenient decoder would read these as the right password.
    const good = Buffer.from("alice:wonderland").toString("base64");
    for (const bad of [`${good}x`, `${good}=`, `${good}!!`, good.slice(0, -1)]) {
      expect(await auth.check(`Basic ${bad}`), bad).to.deep.equal({ kind: "unauthenticated", reason: "the basic credentials are not valid base64" });
    }
  });

  it("makes an unknown user pay a bcrypt comparison of the real users' cost", async () => {
    const users = await makeUsers(parseUsersFile(`alice:${await bcrypt.hash("pw", 7)}\n`, "u"));
    expect(bcrypt.getRounds(users.decoy)).to.equal(7);
  });

  it("remembers a success by user, stored hash and password: a changed hash is checked afresh", async () => {
    const a = new Authenticator();
    a.users = await makeUsers(parseUsersFile(`alice:${await bcrypt.hash("old", 4)}\n`, "u"));
    expect((await a.check(basic("alice", "old"))).kind).to.equal("ok");
    expect((await a.check(basic("alice", "old"))).kind).to.equal("ok");
    // The same user with a new password (a new hash): the remembered success of "old" is not used.
    a.users = await makeUsers(parseUsersFile(`alice:${await bcrypt.hash("new", 4)}\n`, "u"));
    expect((await a.check(basic("alice", "old"))).kind).to.equal("unauthenticated");
    expect((await a.check(basic("alice", "new"))).kind).to.equal("ok");
    // A user removed from the file is refused even with a remembered password.
    a.users = await makeUsers(parseUsersFile(`bob:${await bcrypt.hash("new", 4)}\n`, "u"));
    expect((await a.check(basic("alice", "new"))).kind).to.equal("unauthenticated");
  });

  it("answers busy instead of queueing bcrypt checks without bound", async () => {
    const a = new Authenticator();
    a.users = await makeUsers(parseUsersFile(`alice:${await bcrypt.hash("pw", 8)}\n`, "u"));
    const verdicts = await Promise.all(Array.from({ length: 80 }, (_, i) => a.check(basic("alice", `wrong${i}`))));
    const kinds = verdicts.map((v) => v.kind);
    expect(kinds.filter((k) => k === "busy")).to.have.length(80 - 2 - 64);
    expect(kinds.filter((k) => k === "unauthenticated")).to.have.length(66);
  });

  it("offers one challenge per configured scheme", async () => {
    expect(auth.challenges()).to.deep.equal(['Bearer realm="pushkit"', 'Basic realm="pushkit", charset="UTF-8"']);
    const tokensOnly = new Authenticator();
    tokensOnly.tokens = parseTokensFile(TOKEN_A, "t");
    expect(tokensOnly.challenges()).to.deep.equal(['Bearer realm="pushkit"']);
    expect(await tokensOnly.check(basic("alice", "wonderland"))).to.deep.equal({ kind: "unauthenticated", reason: "the Authorization header is not one of Bearer" });
  });
});

describe("security: browser policy", () => {
  const policy = new BrowserPolicy(["https://grafana.example.com"], "http");

  it("lets same-origin and listed pages write; refuses any other page's write", () => {
    expect(policy.refuseWrite("DELETE", { origin: "http://node1:9529", host: "node1:9529" })).to.equal(undefined);
    expect(policy.refuseWrite("POST", { origin: "http://node1", host: "node1:80" })).to.equal(undefined);
    expect(policy.refuseWrite("PUT", { origin: "https://grafana.example.com", host: "node1:9529" })).to.equal(undefined);
    expect(policy.refuseWrite("POST", { origin: "http://evil.example", host: "node1:9529" })).to.contain('origin "http://evil.example" is refused');
    expect(policy.refuseWrite("POST", { origin: "null", host: "node1:9529" })).to.contain("refused");
    expect(policy.refuseWrite("POST", { origin: "https://node1:9529", host: "node1:9529" })).to.contain("refused");
    expect(policy.refuseWrite("POST", { "sec-fetch-site": "cross-site", host: "node1:9529" })).to.contain("Sec-Fetch-Site: cross-site");
  });

  it("leaves reads and clients that send no Origin alone", () => {
    expect(policy.refuseWrite("GET", { origin: "http://evil.example" })).to.equal(undefined);
    expect(policy.refuseWrite("PUT", { host: "node1:9529" })).to.equal(undefined);
    expect(policy.refuseWrite("PUT", { host: "node1:9529", "sec-fetch-site": "same-origin" })).to.equal(undefined);
  });

  it("sends CORS headers only to listed origins; * lets any page read but not write", () => {
    expect(new BrowserPolicy([], "http").corsHeaders("http://evil.example")).to.equal(undefined);
    expect(policy.corsHeaders("http://evil.example")).to.equal(undefined);
    expect(policy.corsHeaders("https://grafana.example.com")).to.deep.include({ "Access-Control-Allow-Origin": "https://grafana.example.com", Vary: "Origin" });
    const any = new BrowserPolicy(["*"], "http");
    expect(any.corsHeaders("http://x.example")).to.deep.include({ "Access-Control-Allow-Origin": "*" });
    expect(any.refuseWrite("POST", { origin: "http://x.example", host: "node1:9529" })).to.contain("refused");
    expect(policy.preflightHeaders("https://grafana.example.com")).to.include({ "Access-Control-Allow-Headers": "Accept, Authorization, Content-Type" });
  });
});

describe("security: rate limiter", () => {
  it("allows burst at once, then rate per second, and says how long to wait", () => {
    let now = 0;
    const limiter = new RateLimiter(2, 3, () => now);
    expect([1, 2, 3, 4].map(() => limiter.take("a"))).to.deep.equal([0, 0, 0, 1]);
    expect(limiter.take("b")).to.equal(0);
    now = 500;
    expect(limiter.take("a")).to.equal(0);
    expect(limiter.take("a")).to.equal(1);
    const slow = new RateLimiter(0.1, 1, () => now);
    expect(slow.take("c")).to.equal(0);
    expect(slow.take("c")).to.equal(10);
  });

  it("forgets clients whose bucket filled up again", () => {
    let now = 0;
    const limiter = new RateLimiter(10, 10, () => now);
    for (let i = 0; i < 1000; i++) limiter.take(`10.0.${i >> 8}.${i & 255}`);
    expect(limiter.clients).to.equal(1000);
    now = 20_000;
    limiter.take("10.9.9.9");
    expect(limiter.clients).to.equal(1);
  });

  it("counts an IPv4 client of a dual-stack socket under its IPv4 address", () => {
    expect(clientAddress("::ffff:10.1.2.3")).to.equal("10.1.2.3");
    expect(clientAddress("::1")).to.equal("::1");
  });
});

describe("security: options and file reloads", () => {
  const base: SecurityOptions = {
    tls_cert_file: "",
    tls_key_file: "",
    tls_client_ca_file: "",
    tls_min_version: "TLS1.2",
    bearer_tokens_file: "",
    basic_auth_users_file: "",
    reload_interval: 5000,
    cors_allowed_origins: [],
    rate_limit: 0,
    rate_limit_burst: 0,
  };

  it("needs certificate and key together, and TLS for client certificates", () => {
    expect(() => checkSecurityOptions({ ...base, tls_cert_file: "c.pem" })).to.throw("tls_cert_file is set but tls_key_file is not: set both or neither");
    expect(() => checkSecurityOptions({ ...base, tls_key_file: "k.pem" })).to.throw("tls_key_file is set but tls_cert_file is not");
    expect(() => checkSecurityOptions({ ...base, tls_client_ca_file: "ca.pem" })).to.throw("tls_client_ca_file needs tls_cert_file");
    expect(() => checkSecurityOptions({ ...base, rate_limit_burst: 5 })).to.throw("rate_limit_burst is set but rate_limit is 0");
  });

  it("applies a changed file, keeps the last good one when the change is bad, and logs why once", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "pushkit-reload-"));
    const file = path.join(dir, "tokens");
    const logged: string[] = [];
    const log = pino({ level: "info" }, { write: (s: string) => void logged.push(s) });
    let current: string[] = [];
    try {
      writeFileSync(file, `${TOKEN_A}\n`);
      const w = new FileReloader("bearer tokens", [file], ([t]) => parseTokensFile(t.toString(), file).map((x) => x.digest.toString("hex")), (v) => (current = v), log);
      await w.load();
      expect(current).to.have.length(1);
      writeFileSync(file, `${TOKEN_A}\n${TOKEN_B}\n`);
      await w.poll();
      expect(current).to.have.length(2);
      writeFileSync(file, `${TOKEN_A}\nshort\n`);
      await w.poll();
      await w.poll();
      expect(current).to.have.length(2);
      rmSync(file);
      await w.poll();
      expect(current).to.have.length(2);
      writeFileSync(file, `${TOKEN_B}\n`);
      await w.poll();
      expect(current).to.have.length(1);
      const messages = logged.map((l) => JSON.parse(l) as { msg: string; reason?: string });
      expect(messages.map((m) => m.msg)).to.deep.equal([
        "bearer tokens reloaded",
        "bearer tokens: the changed file is not valid; keeping the last good one",
        "bearer tokens: cannot read the file; keeping the last good one",
        "bearer tokens reloaded",
      ]);
      expect(logged.join("\n")).not.to.contain(TOKEN_A).and.not.to.contain(TOKEN_B);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
