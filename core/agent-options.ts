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
      description: "Time a client has to send the request headers.",
    }),
    keep_alive_timeout: opt.duration({
      default: 5_000,
      description: "How long an idle keep-alive connection is kept open.",
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
