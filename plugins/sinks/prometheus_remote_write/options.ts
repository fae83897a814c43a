// The sink's options, and the checks that stop a misconfiguration at start-up rather than at
// the first write: a header value node:http would refuse, two sources of Authorization, a URL
// with credentials (they belong in username/password, which no message shows).
import http from "node:http";
import { ConfigError, opt } from "../../../core/options.ts";

export interface RemoteWriteOptions {
  url: string;
  username: string;
  password: string;
  bearer_token: string;
  headers: Record<string, string>;
  timeout: number;
}

/** Headers the protocol sets; a `headers` option may not replace them. */
const PROTOCOL_HEADERS = ["content-encoding", "content-type", "content-length", "x-prometheus-remote-write-version", "transfer-encoding", "host", "connection"];

/** Checks the options together (what one option's own check cannot see); throws a ConfigError. */
export function validateOptions(o: RemoteWriteOptions): void {
  const where = "sink prometheus_remote_write";
  checkUrl(o.url);
  if (o.bearer_token !== "" && (o.username !== "" || o.password !== "")) {
    throw new ConfigError(`${where}: set either username/password (basic auth) or bearer_token, not both`);
  }
  if (o.password !== "" && o.username === "") throw new ConfigError(`${where}: password is set without username`);
  const auth = o.bearer_token !== "" || o.username !== "";
  for (const [name, value] of Object.entries(o.headers)) {
    if (auth && name.toLowerCase() === "authorization") {
      throw new ConfigError(`${where}: headers.Authorization conflicts with ${o.bearer_token !== "" ? "bearer_token" : "username/password"}`);
    }
    try {
      http.validateHeaderValue(name, value);
    } catch (e) {
      throw new ConfigError(`${where}: headers.${name}: ${(e as Error).message}`);
    }
  }
}

function checkUrl(text: string): void {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new ConfigError(`url must be an absolute http:// or https:// URL, got "${text}"`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new ConfigError(`url must be http:// or https://, got "${u.protocol}//"`);
  if (u.username !== "" || u.password !== "") throw new ConfigError("url must not hold credentials; set username and password");
  if (u.hash !== "") throw new ConfigError(`url must not have a fragment, got "${u.hash}"`);
}

function checkHeaderName(name: string): string | undefined {
  try {
    http.validateHeaderName(name);
  } catch {
    return `headers: "${name}" is not a valid HTTP header name`;
  }
  if (PROTOCOL_HEADERS.includes(name.toLowerCase())) return `headers: "${name}" is set by the remote-write protocol and cannot be changed`;
  return undefined;
}

export const options = {
  url: opt.string({
    default: "",
    required: true,
    description: "Remote-write endpoint, e.g. http://127.0.0.1:9090/api/v1/write (Prometheus with --web.enable-remote-write-receiver).",
    check: (v) => {
      try {
        checkUrl(v);
        return undefined;
      } catch (e) {
        // The config loader names the key already.
        return (e as Error).message.replace(/^url /, "");
      }
    },
  }),
  username: opt.string({ default: "", description: "Basic-auth user name (with password); not with bearer_token." }),
  password: opt.string({ default: "", description: "Basic-auth password." }),
  bearer_token: opt.string({ default: "", description: "Sent as Authorization: Bearer <token>; not with username/password." }),
  headers: opt.stringMap({ default: {}, description: "Extra HTTP headers of every request (not the protocol's own).", checkKey: checkHeaderName }),
  timeout: opt.duration({ default: 10_000, min: 10, description: "Longest time one request may take, answer included." }),
};
