// Everything that decides whether a request may reach its route: client certificate, the
// page it came from, the push rate of its client, and its credentials and their scopes. Built
// once from the [http] options; the TLS and credentials files are loaded at start (a bad one
// stops the agent) and then kept in step with the disk.
import type { TLSSocket } from "node:tls";
import type tls from "node:tls";
import type { Context } from "koa";
import type { Logger } from "pino";
import { HttpError } from "../errors.ts";
import { ConfigError } from "../options.ts";
import type { Access } from "../plugin.ts";
import { Authenticator, makeUsers } from "./authenticator.ts";
import { BrowserPolicy } from "./browser.ts";
import { parseTokensFile, parseUsersFile, SCOPES, type Scopes } from "./credentials.ts";
import { FileReloader } from "./file-reloader.ts";
import { clientAddress, RateLimiter } from "./rate-limit.ts";
import { describeCertificate, secureContextOptions, tlsFiles, type TlsFileOptions } from "./tls.ts";

export interface SecurityOptions extends TlsFileOptions {
  bearer_tokens_file: string;
  basic_auth_users_file: string;
  reload_interval: number;
  cors_allowed_origins: string[];
  rate_limit: number;
  rate_limit_burst: number;
}

/** Why requests were refused before reaching their route, for the agent's own metrics. */
export const REFUSAL_REASONS = ["client_certificate", "origin", "rate_limit", "credentials", "scope", "auth_busy"] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** Options that cannot be checked one by one. */
export function checkSecurityOptions(o: SecurityOptions): void {
  if (Boolean(o.tls_cert_file) !== Boolean(o.tls_key_file)) {
    throw new ConfigError(`[http] ${o.tls_cert_file ? "tls_cert_file is set but tls_key_file is not" : "tls_key_file is set but tls_cert_file is not"}: set both or neither`);
  }
  if (o.tls_client_ca_file && !o.tls_cert_file) throw new ConfigError("[http] tls_client_ca_file needs tls_cert_file and tls_key_file: client certificates are asked for only over TLS");
  if (o.rate_limit_burst > 0 && o.rate_limit === 0) throw new ConfigError("[http] rate_limit_burst is set but rate_limit is 0 (no limit)");
}

function scopeSummary(scopes: Scopes[]): string {
  return SCOPES.map((s) => `${s}: ${scopes.filter((x) => x.has(s)).length}`).join(", ");
}

export class HttpSecurity {
  readonly auth = new Authenticator();
  readonly browser: BrowserPolicy;
  readonly limiter: RateLimiter | undefined;
  readonly requireClientCert: boolean;
  /** The context options the server starts with, when TLS is on. */
  tls: tls.SecureContextOptions | undefined;
  private readonly watchers: FileReloader<unknown>[] = [];
  /** Where a reloaded TLS context goes: the server, once it exists. */
  onTlsChange: ((options: tls.SecureContextOptions) => void) | undefined;
  onRefused: ((reason: RefusalReason) => void) | undefined;
  private readonly summary: string[] = [];

  constructor(
    private readonly o: SecurityOptions,
    private readonly log: Logger,
  ) {
    checkSecurityOptions(o);
    this.browser = new BrowserPolicy(o.cors_allowed_origins, o.tls_cert_file ? "https" : "http");
    this.limiter = o.rate_limit > 0 ? new RateLimiter(o.rate_limit, o.rate_limit_burst || Math.max(1, Math.ceil(o.rate_limit))) : undefined;
    this.requireClientCert = o.tls_client_ca_file !== "";
  }

  /** Reads every configured file; throws a ConfigError naming the one that is not valid. */
  async load(): Promise<void> {
    const o = this.o;
    if (o.tls_cert_file) {
      await this.watch("tls_cert_file/tls_key_file", "TLS certificate and key", tlsFiles(o), (contents) => secureContextOptions(o, contents), (options) => {
        const first = this.tls === undefined;
        this.tls = options;
        if (!first) this.onTlsChange?.(options);
      });
      this.summary.push(`TLS on (minimum ${o.tls_min_version}): ${describeCertificate(this.tls!.cert as Buffer)}${this.requireClientCert ? "; client certificates required" : ""}`);
    }
    if (o.bearer_tokens_file) {
      const file = o.bearer_tokens_file;
      await this.watch("bearer_tokens_file", "bearer tokens", [file], ([text]) => parseTokensFile(text.toString("utf8"), file), (t) => (this.auth.tokens = t));
      this.summary.push(`bearer tokens: ${this.auth.tokens!.length} (${scopeSummary(this.auth.tokens!.map((t) => t.scopes))})`);
    }
    if (o.basic_auth_users_file) {
      const file = o.basic_auth_users_file;
      await this.watch("basic_auth_users_file", "basic-auth users", [file], ([text]) => makeUsers(parseUsersFile(text.toString("utf8"), file)), (u) => (this.auth.users = u));
      const users = [...this.auth.users!.entries.values()];
      this.summary.push(`basic-auth users: ${users.length} (${scopeSummary(users.map((u) => u.scopes))})`);
    }
    if (!this.auth.configured) this.summary.push("no credentials: every client may push, read and delete (set bearer_tokens_file or basic_auth_users_file)");
    if (this.limiter) this.summary.push(`push rate limit: ${this.limiter.rate}/s per client address, burst ${this.limiter.burst}`);
  }

  /** Loads files once (a failure names the option and stops the start), then keeps them in step. */
  private async watch<T>(option: string, what: string, files: string[], build: (contents: Buffer[]) => Promise<T> | T, apply: (value: T) => void): Promise<void> {
    const w = new FileReloader(what, files, build, apply, this.log);
    try {
      await w.load();
    } catch (e) {
      throw new ConfigError(`[http] ${option}: ${(e as Error).message}`);
    }
    this.watchers.push(w as FileReloader<unknown>);
  }

  /** What is protected and how, without any secret: for check-config and the start-up log. */
  describe(): string[] {
    return this.summary;
  }

  start(): void {
    for (const w of this.watchers) w.start(this.o.reload_interval);
  }

  stop(): void {
    for (const w of this.watchers) w.stop();
  }

  /** Checks the files once, now (tests, and a reload that should not wait for the interval). */
  async reloadNow(): Promise<void> {
    for (const w of this.watchers) await w.poll();
  }

  private refuse(reason: RefusalReason, status: number, message: string, headers: Record<string, string | string[]> = {}): HttpError {
    this.onRefused?.(reason);
    return new HttpError(status, message, headers);
  }

  /**
   * Decides whether the request may go on to a route of the given access ("any": a route
   * nobody registered, which still must not be probed without credentials). Throws the
   * HttpError to answer; returns a promise only when a password must be checked.
   */
  guard(ctx: Context, access: Exclude<Access, "public"> | "any"): void | Promise<void> {
    if (this.requireClientCert && !(ctx.req.socket as TLSSocket).authorized) {
      throw this.refuse("client_certificate", 403, "403 forbidden: a client certificate signed by a CA of [http] tls_client_ca_file is required");
    }
    const refused = this.browser.refuseWrite(ctx.method, ctx.req.headers);
    if (refused) throw this.refuse("origin", 403, `403 forbidden: ${refused}`);
    if (access === "push" && this.limiter) {
      const wait = this.limiter.take(clientAddress(ctx.req.socket.remoteAddress));
      if (wait > 0) throw this.refuse("rate_limit", 429, `429 too many requests: more than ${this.limiter.rate} pushes per second from this client address ([http] rate_limit)`, { "Retry-After": String(wait) });
    }
    if (!this.auth.configured) return undefined;
    return this.auth.check(ctx.req.headers.authorization).then((v) => {
      if (v.kind === "busy") throw this.refuse("auth_busy", 503, "503 service unavailable: too many password checks in progress", { "Retry-After": "1" });
      if (v.kind === "unauthenticated") throw this.refuse("credentials", 401, `401 unauthorized: ${v.reason}`, { "WWW-Authenticate": this.auth.challenges() });
      if (access !== "any" && !v.scopes.has(access)) throw this.refuse("scope", 403, `403 forbidden: ${v.who} is not granted the "${access}" scope`);
    });
  }
}
