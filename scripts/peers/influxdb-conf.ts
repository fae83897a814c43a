// The influxd config that the tests and the benchmarks start InfluxDB 1.x with: loopback ports
// only, every directory inside one scratch dir, no reporting, no self-monitoring, no continuous
// queries (they would write on their own and muddy exact point counts).
import path from "node:path";

export interface InfluxDBConfig {
  /** Scratch directory for meta, data and WAL. */
  dir: string;
  /** Port of the HTTP API. */
  httpPort: number;
  /** Port of the RPC bind-address (backup/restore), unused but must be free. */
  rpcPort: number;
  authEnabled?: boolean;
}

export function influxdbConfig(c: InfluxDBConfig): string {
  return `reporting-disabled = true
bind-address = "127.0.0.1:${c.rpcPort}"

[meta]
  dir = ${JSON.stringify(path.join(c.dir, "meta"))}

[data]
  dir = ${JSON.stringify(path.join(c.dir, "data"))}
  wal-dir = ${JSON.stringify(path.join(c.dir, "wal"))}
  query-log-enabled = false

[monitor]
  store-enabled = false

[continuous_queries]
  enabled = false

[http]
  bind-address = "127.0.0.1:${c.httpPort}"
  auth-enabled = ${c.authEnabled ? "true" : "false"}
  log-enabled = false
`;
}
