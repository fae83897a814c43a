// The one HTTP server every input shares: Koa, @koa/router, health routes, and the mapping
// of thrown HttpErrors to plain-text answers (status, message, newline).
import http from "node:http";
import https from "node:https";
import type net from "node:net";
import Koa from "koa";
import Router, { type RouterMiddleware } from "@koa/router";
import type { Logger } from "pino";
import { setBodyIdleTimeout } from "./body.ts";
import { HttpError } from "./errors.ts";
import type { HttpMethod, RouteRegistrar, RouteSpec } from "./plugin.ts";
import { answerPlainHttp } from "./security/plain-http.ts";
import { REFUSAL_REASONS, type HttpSecurity, type RefusalReason, type SecurityOptions } from "./security/http-security.ts";
import type { SelfMetrics } from "./self-metrics.ts";
import { Tally } from "./tally.ts";
import { transport, WriteWatchdog } from "./write-watchdog.ts";

export interface HttpOptions extends SecurityOptions {
  listen: string;
  request_timeout: number;
  headers_timeout: number;
  keep_alive_timeout: number;
  body_idle_timeout: number;
  write_timeout: number;
}

// Sent with every answer: nothing served here is meant to be framed, sniffed into another type,
// or to run anything. The status page replaces the policy with one that lets its own script run.
const HARDENING: [string, string][] = [
  ["X-Content-Type-Options", "nosniff"],
  ["X-Frame-Options", "DENY"],
  ["Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"],
];

/**
 * Answers `status` with an empty body and no Content-Type, as Go's net/http does, writing the
 * head directly: on a push of one sample Koa's header setters cost more than storing it.
 */
export function answerEmpty(ctx: Koa.Context, status: number): void {
  ctx.status = status;
  ctx.respond = false;
  ctx.res.writeHead(status, EMPTY_HEAD);
  ctx.res.end();
}

const EMPTY_HEAD = ["Content-Length", "0"];

/**
 * How often Node looks for connections over headers_timeout or request_timeout. Its default,
 * 30 s, let slowloris connections live ~30 s past a 10 s headers_timeout; a look costs a walk
 * over the connections still sending a request, done in C++.
 */
function connectionsCheckingInterval(o: Pick<HttpOptions, "headers_timeout" | "request_timeout">): number {
  return Math.min(1000, Math.max(100, Math.floor(Math.min(o.headers_timeout, o.request_timeout) / 4)));
}

/**
 * Over TLS, headers_timeout counts from the connection's accept, as it does over plain HTTP:
 * Node starts its clock only when the handshake is done and the handshake has a timeout of its
 * own, so a client could otherwise take up to the limit for the first byte, again for the
 * handshake and again for the headers.
 */
function headersDeadline(server: https.Server, ms: number): void {
  const deadlines = new WeakMap<net.Socket, NodeJS.Timeout>();
  server.on("connection", (socket: net.Socket) => {
    const timer = setTimeout(() => socket.destroy(), ms).unref();
    deadlines.set(socket, timer);
    socket.once("close", () => clearTimeout(timer));
  });
  server.on("request", (req: http.IncomingMessage) => {
    const raw = transport(req.socket);
    const timer = deadlines.get(raw);
    if (timer) {
      clearTimeout(timer);
      deadlines.delete(raw);
    }
  });
}

export class HttpServer implements RouteRegistrar {
  readonly app = new Koa();
  private readonly router = new Router();
  private readonly seen = new Set<string>();
  private server: http.Server | undefined;
  private inFlight = 0;
  private idle: (() => void) | undefined;
  ready = false;
  /** Set at shutdown: requests are still served, but /-/ready tells load balancers to go elsewhere. */
  draining = false;
  private readonly requests: Tally<"route" | "method" | "code"> | undefined;
  private writes: WriteWatchdog | undefined;

  /** `security` has loaded its files (HttpSecurity.load): the TLS context is needed to listen. */
  constructor(
    private readonly opts: HttpOptions,
    private readonly log: Logger,
    private readonly security: HttpSecurity,
    metrics?: SelfMetrics,
  ) {
    this.requests = metrics && new Tally(metrics.httpRequests);
    // Koa prints every error its handlers did not answer to stderr, stack and all: a client that
    // resets its connection in the middle of a streamed answer is no error of the agent's.
    this.app.on("error", (err: Error & { code?: string }) => {
      if (err.code === "ECONNRESET" || err.code === "EPIPE" || err.code === "ERR_STREAM_PREMATURE_CLOSE") this.log.debug({ err: err.message }, "client went away during an answer");
      else this.log.error({ err }, "error while answering a request");
    });
    if (metrics) {
      const refused = metrics.httpRefused;
      for (const reason of REFUSAL_REASONS) refused.inc({ reason }, 0);
      this.security.onRefused = (reason: RefusalReason) => refused.inc({ reason });
    }
    this.app.use(async (ctx, next) => {
      this.inFlight++;
      for (const [name, value] of HARDENING) ctx.res.setHeader(name, value);
      setBodyIdleTimeout(ctx.req, this.opts.body_idle_timeout);
      try {
        await next();
      } catch (e) {
        if (e instanceof HttpError) {
          ctx.status = e.status;
          ctx.set(e.headers);
          ctx.body = e.message + "\n";
          this.log.debug({ method: ctx.method, path: ctx.path, status: e.status, reason: e.message }, "request refused");
        } else {
          this.log.error({ err: e, method: ctx.method, path: ctx.path }, "request failed");
          ctx.status = 500;
          ctx.body = "internal error\n";
        }
        ctx.type = "text/plain; charset=utf-8";
      } finally {
        if (--this.inFlight === 0) this.idle?.();
        this.requests?.add(1, (ctx.state.route as string | undefined) ?? "other", ctx.method, String(ctx.status));
      }
    });
    this.route(
      ["GET"],
      "/-/healthy",
      (ctx) => {
        ctx.body = "OK\n";
      },
      { access: "public" },
    );
    this.route(
      ["GET"],
      "/-/ready",
      (ctx) => {
        const ready = this.ready && !this.draining;
        ctx.status = ready ? 200 : 503;
        ctx.body = ready ? "OK\n" : this.draining ? "shutting down\n" : "starting\n";
      },
      { access: "public" },
    );
  }

  /** Whether a route is registered for exactly this method and path. */
  handles(method: HttpMethod, path: string): boolean {
    return this.seen.has(`${method} ${path}`);
  }

  route(methods: HttpMethod[], path: string | RegExp, handler: Koa.Middleware, spec: RouteSpec): void {
    const all: HttpMethod[] = spec.crossOrigin && !methods.includes("OPTIONS") ? [...methods, "OPTIONS"] : methods;
    for (const m of all) {
      const key = `${m} ${String(path)}`;
      if (this.seen.has(key)) throw new Error(`route ${key} is registered twice (two inputs with the same route prefix?)`);
      this.seen.add(key);
    }
    const route = spec.label ?? String(path);
    const access = spec.access;
    const browser = this.security.browser;
    const guarded: Koa.Middleware =
      access === "public"
        ? handler
        : (ctx, next) => {
            const checking = this.security.guard(ctx, access);
            return checking ? checking.then(() => handler(ctx, next)) : handler(ctx, next);
          };
    const labelled: Koa.Middleware = spec.crossOrigin
      ? (ctx, next) => {
          ctx.state.route = route;
          const cors = browser.corsHeaders(ctx.get("Origin") || undefined);
          if (cors) ctx.set(cors);
          return guarded(ctx, next);
        }
      : (ctx, next) => {
          ctx.state.route = route;
          return guarded(ctx, next);
        };
    const opts = path instanceof RegExp ? { pathAsRegExp: true } : {};
    this.router.register(path, methods, labelled as RouterMiddleware, opts);
    if (spec.crossOrigin) {
      // A preflight carries no credentials: it is answered to anyone, with CORS headers only
      // for an allowed origin (without them the browser does not send the real request).
      const preflight: Koa.Middleware = (ctx) => {
        ctx.state.route = route;
        const headers = browser.preflightHeaders(ctx.get("Origin") || undefined);
        if (headers) ctx.set(headers);
        ctx.set("Allow", [...new Set([...methods, "OPTIONS"])].join(", "));
        ctx.status = 204;
      };
      this.router.register(path, ["OPTIONS"], preflight as RouterMiddleware, opts);
    }
  }

  async listen(): Promise<{ host: string; port: number }> {
    this.app.use(this.router.routes());
    // Nothing answered: a path some route serves, with another method, is a 405 naming the
    // methods it takes (whatever the method, TRACE included; OPTIONS gets them with a 200);
    // any other path is a 404. With credentials configured, only to a client that has some:
    // which paths exist is not told to strangers.
    this.app.use(async (ctx, next) => {
      if (this.security.auth.configured || this.security.requireClientCert) await this.security.guard(ctx, "any");
      return next();
    });
    this.app.use((ctx) => {
      const matched = (ctx as { matched?: { methods: string[] }[] }).matched ?? [];
      const allowed = [...new Set(matched.flatMap((layer) => layer.methods))];
      ctx.type = "text/plain; charset=utf-8";
      if (allowed.length > 0 && ctx.method === "OPTIONS") {
        ctx.status = 200;
        ctx.set("Allow", allowed.join(", "));
        ctx.body = "";
      } else if (allowed.length > 0) {
        ctx.status = 405;
        ctx.set("Allow", allowed.join(", "));
        ctx.body = "405 method not allowed\n";
      } else {
        ctx.status = 404;
        ctx.body = "404 page not found\n";
      }
    });
    const sep = this.opts.listen.lastIndexOf(":");
    const host = this.opts.listen.slice(0, sep).replace(/^\[|\]$/g, "") || "0.0.0.0";
    const port = Number(this.opts.listen.slice(sep + 1));
    const timeouts = {
      requestTimeout: this.opts.request_timeout,
      headersTimeout: this.opts.headers_timeout,
      keepAliveTimeout: this.opts.keep_alive_timeout,
      connectionsCheckingInterval: connectionsCheckingInterval(this.opts),
    };
    const writes = new WriteWatchdog(this.opts.write_timeout, (socket, waiting) =>
      this.log.debug({ remote: socket.remoteAddress, waiting }, "client stopped reading its answer: connection closed (write_timeout)"),
    );
    this.writes = writes;
    const tls = this.security.tls;
    let server: http.Server;
    if (tls) {
      // Client certificates are asked for but checked per route (HttpSecurity.guard), so that
      // the kubelet's probes, which send none, still reach /-/healthy and /-/ready.
      const secure = https.createServer(
        { ...timeouts, handshakeTimeout: this.opts.headers_timeout, ...tls, requestCert: this.security.requireClientCert, rejectUnauthorized: false },
        this.app.callback(),
      );
      this.security.onTlsChange = (options) => secure.setSecureContext(options);
      secure.on("tlsClientError", (err) => this.log.debug({ reason: err.message }, "TLS handshake failed"));
      answerPlainHttp(secure, this.opts.headers_timeout);
      headersDeadline(secure, this.opts.headers_timeout);
      secure.on("secureConnection", (socket: net.Socket) => writes.watch(socket));
      server = secure;
    } else {
      server = http.createServer(timeouts, this.app.callback());
      server.on("connection", (socket: net.Socket) => writes.watch(socket));
    }
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.security.start();
    const addr = server.address() as { address: string; port: number };
    return { host: addr.address, port: addr.port };
  }

  /** Stops accepting connections and waits (until the deadline) for in-flight requests. */
  async close(deadline: number): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.security.stop();
    this.writes?.stop();
    this.ready = false;
    server.close();
    server.closeIdleConnections();
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        this.idle = resolve;
        setTimeout(resolve, Math.max(0, deadline - Date.now())).unref();
      });
    }
    server.closeAllConnections();
  }
}
