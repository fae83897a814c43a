// Checks an Authorization header against the configured tokens and users. Tokens are
// compared as SHA-256 digests in constant time, every one of them; a basic-auth password costs
// a bcrypt comparison whether or not the user exists, and a remembered success is keyed by the
// user, the stored hash and the password together, so that a changed hash is checked afresh.
import { randomBytes, timingSafeEqual } from "node:crypto";
import bcrypt from "bcryptjs";
import { sha256, type Scopes, type TokenEntry, type UserEntry } from "./credentials.ts";

export type Verdict =
  | { kind: "ok"; scopes: Scopes; who: string }
  /** No usable credentials were sent, or they were wrong: the answer is 401. */
  | { kind: "unauthenticated"; reason: string }
  /** Too many bcrypt checks are waiting: the answer is 503. */
  | { kind: "busy" };

const CACHE_ENTRIES = 1024;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BCRYPT_CONCURRENCY = 2;
const BCRYPT_QUEUE = 64;

/** A user table with the hash an unknown user is checked against, of the table's highest cost. */
export interface Users {
  entries: ReadonlyMap<string, UserEntry>;
  decoy: string;
}

export async function makeUsers(entries: ReadonlyMap<string, UserEntry>): Promise<Users> {
  const cost = Math.max(...[...entries.values()].map((u) => u.cost));
  return { entries, decoy: await bcrypt.hash(randomBytes(18).toString("base64"), cost) };
}

/** At most a few bcrypt checks at once (each takes tens of milliseconds), a bounded number waiting. */
class Gate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  async run<T>(work: () => Promise<T>): Promise<T | undefined> {
    if (this.running >= BCRYPT_CONCURRENCY) {
      if (this.waiting.length >= BCRYPT_QUEUE) return undefined;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.running++;
    try {
      return await work();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}

export class Authenticator {
  tokens: readonly TokenEntry[] | undefined;
  users: Users | undefined;
  private readonly remembered = new Map<string, true>();
  private readonly gate = new Gate();

  get configured(): boolean {
    return this.tokens !== undefined || this.users !== undefined;
  }

  /** The challenges a 401 carries, one per configured scheme. */
  challenges(): string[] {
    const out: string[] = [];
    if (this.tokens) out.push('Bearer realm="pushkit"');
    if (this.users) out.push('Basic realm="pushkit", charset="UTF-8"');
    return out;
  }

  async check(header: string | undefined): Promise<Verdict> {
    if (!header) return { kind: "unauthenticated", reason: "no credentials" };
    const space = header.indexOf(" ");
    const scheme = header.slice(0, space).toLowerCase();
    const value = header.slice(space + 1).trim();
    if (space > 0 && scheme === "bearer" && this.tokens) return this.checkToken(value, this.tokens);
    if (space > 0 && scheme === "basic" && this.users) return this.checkBasic(value, this.users);
    const accepted = this.challenges().map((c) => c.split(" ")[0]);
    return { kind: "unauthenticated", reason: `the Authorization header is not one of ${accepted.join(" or ")}` };
  }

  private checkToken(token: string, tokens: readonly TokenEntry[]): Verdict {
    const digest = sha256(token);
    let match: TokenEntry | undefined;
    let index = 0;
    for (let i = 0; i < tokens.length; i++) {
      // No early exit: the time taken does not depend on which token (if any) matched.
      if (timingSafeEqual(digest, tokens[i].digest) && !match) {
        match = tokens[i];
        index = i;
      }
    }
    return match ? { kind: "ok", scopes: match.scopes, who: `bearer token #${index + 1}` } : { kind: "unauthenticated", reason: "the bearer token is not valid" };
  }

  private async checkBasic(encoded: string, users: Users): Promise<Verdict> {
    // Node's decoder skips what is not base64; RFC 7617 (and Go's decoder) do not.
    if (encoded.length % 4 !== 0 || !BASE64.test(encoded)) return { kind: "unauthenticated", reason: "the basic credentials are not valid base64" };
    const decoded = Buffer.from(encoded, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) return { kind: "unauthenticated", reason: "the basic credentials are not user:password" };
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const entry = users.entries.get(user);
    const hash = entry?.hash ?? users.decoy;
    const key = sha256(`${user}\0${hash}\0${password}`).toString("base64");
    if (entry && this.remembered.has(key)) return { kind: "ok", scopes: entry.scopes, who: `user ${user}` };
    // An unknown user is checked against the decoy hash, of the same cost as the real ones.
    const good = await this.gate.run(() => bcrypt.compare(password, hash));
    if (good === undefined) return { kind: "busy" };
    if (!good || !entry) return { kind: "unauthenticated", reason: "the user name or password is not valid" };
    if (this.remembered.size >= CACHE_ENTRIES) this.remembered.delete(this.remembered.keys().next().value!);
    this.remembered.set(key, true);
    return { kind: "ok", scopes: entry.scopes, who: `user ${user}` };
  }
}
