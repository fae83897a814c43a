// The two credentials files: bearer tokens and htpasswd users, each line optionally granting
// scopes. Errors name the file and line, never the secret on it.
import { createHash } from "node:crypto";

export const SCOPES = ["push", "read", "admin"] as const;
export type Scope = (typeof SCOPES)[number];
export type Scopes = ReadonlySet<Scope>;

export class CredentialsFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CredentialsFileError";
  }
}

export interface TokenEntry {
  /** SHA-256 of the token: tokens are compared as digests, in constant time. */
  digest: Buffer;
  scopes: Scopes;
}

export interface UserEntry {
  hash: string;
  cost: number;
  scopes: Scopes;
}

// RFC 6750's token68: what a client can send after "Bearer " without quoting.
const TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const MIN_TOKEN_LENGTH = 16;
const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

export function sha256(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}

/** The meaningful lines: comments (whole lines, or after whitespace) and blank lines dropped. */
function lines(text: string): { no: number; fields: string[] }[] {
  const out: { no: number; fields: string[] }[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/(^|\s)#.*$/, "").trim();
    if (line !== "") out.push({ no: i + 1, fields: line.split(/\s+/) });
  });
  return out;
}

function parseScopes(words: string[], where: string): Scopes {
  const scopes = new Set<Scope>();
  for (const word of words.flatMap((w) => w.split(",")).filter((w) => w !== "")) {
    if (!(SCOPES as readonly string[]).includes(word)) throw new CredentialsFileError(`${where}: unknown scope "${word}" (scopes are ${SCOPES.join(", ")})`);
    scopes.add(word as Scope);
  }
  return scopes.size === 0 ? new Set(SCOPES) : scopes;
}

export function parseTokensFile(text: string, file: string): TokenEntry[] {
  const seen = new Set<string>();
  const out: TokenEntry[] = [];
  for (const { no, fields } of lines(text)) {
    const where = `${file}:${no}`;
    const [token, ...rest] = fields;
    if (!TOKEN.test(token)) throw new CredentialsFileError(`${where}: the token has characters a client cannot send after "Bearer " (letters, digits and -._~+/ only, then any "=")`);
    if (token.length < MIN_TOKEN_LENGTH) throw new CredentialsFileError(`${where}: the token is shorter than ${MIN_TOKEN_LENGTH} characters; make one with "openssl rand -hex 32"`);
    const digest = sha256(token);
    if (seen.has(digest.toString("hex"))) throw new CredentialsFileError(`${where}: the same token is listed twice`);
    seen.add(digest.toString("hex"));
    out.push({ digest, scopes: parseScopes(rest, where) });
  }
  if (out.length === 0) throw new CredentialsFileError(`${file}: no tokens in the file`);
  return out;
}

function hashKind(hash: string): string {
  if (hash.startsWith("$apr1$")) return "an MD5 (apr1) hash, as htpasswd -m writes";
  if (hash.startsWith("{SHA}")) return "a SHA-1 hash, as htpasswd -s writes";
  if (/^\$[56]\$/.test(hash)) return "a SHA-crypt hash";
  if (hash.startsWith("$2")) return "a malformed bcrypt hash";
  if (/^[./A-Za-z0-9]{13}$/.test(hash)) return "a crypt(3) hash, as htpasswd -d writes";
  return "not a bcrypt hash (a plain-text password?)";
}

export function parseUsersFile(text: string, file: string): Map<string, UserEntry> {
  const out = new Map<string, UserEntry>();
  for (const { no, fields } of lines(text)) {
    const where = `${file}:${no}`;
    const [entry, ...rest] = fields;
    const colon = entry.indexOf(":");
    if (colon <= 0) throw new CredentialsFileError(`${where}: expected "user:bcrypt-hash" as htpasswd -nbB writes it`);
    const user = entry.slice(0, colon);
    const hash = entry.slice(colon + 1);
    const m = BCRYPT.exec(hash);
    if (!m) throw new CredentialsFileError(`${where}: user "${user}" has ${hashKind(hash)}; only bcrypt hashes are accepted (htpasswd -nbB user password)`);
    const cost = Number(m[1]);
    if (cost < 4 || cost > 31) throw new CredentialsFileError(`${where}: user "${user}": bcrypt cost ${cost} is out of range 4-31`);
    if (out.has(user)) throw new CredentialsFileError(`${where}: user "${user}" is listed twice`);
    out.set(user, { hash, cost, scopes: parseScopes(rest, where) });
  }
  if (out.size === 0) throw new CredentialsFileError(`${file}: no users in the file`);
  return out;
}
