// The agent's own settings, by conf section. Env names derive from section and key:
// [http] listen -> ENV_HTTP_LISTEN, [log] level -> ENV_LOG_LEVEL.
import { opt, type Schema } from "./options.ts";

// Tags become Prometheus labels in remote write too, so they follow the label-name rule.
const TAG_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function checkListen(v: string): string | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s]*):(\d{1,5})$/.exec(v);
  if (!m || Number(m[2]) > 65535) return `expected "host:port" (e.g. "127.0.0.1:9529", "0.0.0.0:9529", "[::1]:9529"), got "${v}"`;
  return undefined;
}

function checkOrigin(v: string): string | undefined {
  if (v === "*") return undefined;
  let u: URL | undefined;
  try {
    u = new URL(v);
  } catch {
    u = undefined;
  }
  if (!u || (u.protocol !== "http:" && u.protocol !== "https:") || u.origin !== v) {
    return `"${v}" is not an origin: expected scheme://host[:port] with nothing after it, e.g. "https://grafana.example.com", or "*"`;
  }
  return undefined;
}

export const agentSections = {
  agent: {
    shutdown_timeout: opt.duration({
      default: 10_000,
      min: 100,
      description: "On SIGTERM/SIGINT, how long to wait for in-flight requests and sink flushes before exiting anyway.",
    }),
    global_tags: opt.stringMap({
      default: {},
      env: "ENV_GLOBAL_TAGS",
      description: 'Tags every input adds to every point it produces, e.g. { node = "n1", cluster = "prod" }; from the environment "node=n1,cluster=prod". A tag the input sets itself (its own tags, a label pushed in the body, the grouping key) wins.',
      checkKey: (k) => (TAG_NAME.test(k) ? undefined : `tag name "${k}" is not a valid label name (letters, digits and "_", not starting with a digit)`),
    }),
    data_dir: opt.string({
      default: "./data",
      env: "ENV_DATA_DIR",
      description: "Directory of the agent's state: durable sink queues (queue/<sink>/) and dead-letter files (dead-letter/<sink>.lp). Relative to the working directory.",
      check: (v) => (v.trim() === "" ? "must not be empty" : undefined),
    }),
  },
  http: {
    listen: opt.string({
      default: "127.0.0.1:9529",
      description: 'Address of the shared HTTP server; "0.0.0.0:9529" in a DaemonSet.',
      check: checkListen,
    }),
    request_timeout: opt.duration({
      default: 60_000,
      min: 1000,
      description: "Time a client has to send a whole request (headers and body).",
    }),
    headers_timeout: opt.duration({
      default: 10_000,
      min: 1000,
      description: "Time a client has to send the request headers: counted from the connection's accept for its first request (over TLS, the handshake included), from its first byte for a later one on a kept-alive connection.",
    }),
    keep_alive_timeout: opt.duration({
      default: 5_000,
      description: "How long an idle keep-alive connection is kept open.",
    }),
    body_idle_timeout: opt.duration({
      default: 10_000,
      min: 1000,
      description:
        "Longest pause in a request body: a push whose body stops arriving for this long is refused with 408 and its connection closed, and the bytes it held of max_inflight_bytes are released at once.",
    }),
    write_timeout: opt.duration({
      default: 30_000,
      min: 1000,
      description:
        "Longest stall of a client reading an answer: a connection with answer bytes waiting that sees none of them leave for this long is closed, freeing what it held. A slow download that keeps moving is never cut, nor a request still being worked on.",
    }),
    tls_cert_file: opt.string({
      default: "",
      description: "PEM certificate (chain) to serve HTTPS with; set together with tls_key_file. With TLS on, the port serves no plain HTTP. Re-read when it changes on disk.",
    }),
    tls_key_file: opt.string({
      default: "",
      description: "PEM private key of tls_cert_file. Re-read when it changes on disk.",
    }),
    tls_client_ca_file: opt.string({
      default: "",
      description: "PEM CA certificates that client certificates must be signed by: with it, every route but /-/healthy and /-/ready needs a client certificate (403 without one). Needs tls_cert_file.",
    }),
    tls_min_version: opt.string({
      default: "TLS1.2",
      choices: ["TLS1.2", "TLS1.3"],
      description: "Oldest TLS version a client may use.",
    }),
    bearer_tokens_file: opt.string({
      default: "",
      description: 'File of bearer tokens, one per line, each optionally followed by the scopes it grants (push, read, admin; none = all); "#" starts a comment. With it (or basic_auth_users_file) every route but /-/healthy and /-/ready needs credentials. Re-read when it changes.',
    }),
    basic_auth_users_file: opt.string({
      default: "",
      description: "htpasswd file of basic-auth users with bcrypt hashes (htpasswd -nbB user password), each line optionally followed by scopes as in bearer_tokens_file. Re-read when it changes.",
    }),
    reload_interval: opt.duration({
      default: 5_000,
      min: 100,
      description: "How often the TLS and credentials files are checked for changes; a changed file that is not valid is refused and the last good one kept.",
    }),
    cors_allowed_origins: opt.stringList({
      default: [],
      description: 'Origins (scheme://host[:port]) whose web pages may read the JSON API and write; "*" lets any page read (never write). Same-origin pages (the status page) need no entry. A write carrying any other Origin is refused with 403.',
      checkItem: checkOrigin,
    }),
    rate_limit: opt.number({
      default: 0,
      min: 0,
      description: "Pushes (PUT, POST, DELETE of groups) per second allowed to each client address; over it, 429 with Retry-After. 0 for no limit.",
    }),
    rate_limit_burst: opt.integer({
      default: 0,
      min: 0,
      description: "Pushes a client may make at once above rate_limit; 0 for rate_limit rounded up (at least 1).",
    }),
  },
  log: {
    level: opt.string({
      default: "info",
      choices: ["trace", "debug", "info", "warn", "error", "fatal", "silent"],
      description: "Log level. Logs go to stderr.",
    }),
    format: opt.string({
      default: "auto",
      choices: ["auto", "json", "pretty"],
      description: "json: one JSON object per line; pretty: for people; auto: pretty on a terminal, else json.",
    }),
  },
} satisfies Record<string, Schema>;

export type AgentSections = typeof agentSections;
