// A real Prometheus (Debian's prometheus 2.42, installed by scripts/setup-peers.sh) as a child
// process on a free loopback port, with a temporary config and TSDB directory and its
// remote-write receiver enabled; stopped by its PID. The package's system service is not used.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

export const PROMETHEUS_BINARY = "/usr/bin/prometheus";

export interface RunningPrometheus {
  /** http://127.0.0.1:<port> */
  url: string;
  /** The remote-write endpoint: <url>/api/v1/write */
  writeUrl: string;
  pid: number;
  child: ChildProcess;
  dir: string;
  output(): string;
  /** Instant query at a time in ms since the epoch (default: now); the result vector. */
  query(expr: string, timeMs?: number): Promise<VectorSample[]>;
  /** The active scrape targets, with their health and last error. */
  targets(): Promise<ScrapeTarget[]>;
  /** Stops it (SIGTERM, then SIGKILL after 5 s) and removes its directory. */
  stop(): Promise<void>;
}

export interface ScrapeTarget {
  labels: Record<string, string>;
  health: "up" | "down" | "unknown";
  lastError: string;
}

export interface PrometheusOptions {
  /** prometheus.yml; the default has no scrape jobs (every series comes through remote write). */
  config?: string;
  /** The process environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

export interface VectorSample {
  metric: Record<string, string>;
  /** [seconds since the epoch, value as text] */
  value: [number, string];
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function status(url: string): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** Starts Prometheus and waits for /-/ready; fails (never skips) when it is not installed. */
export async function startPrometheus(o: PrometheusOptions = {}): Promise<RunningPrometheus> {
  if (!existsSync(PROMETHEUS_BINARY)) {
    throw new Error(`${PROMETHEUS_BINARY} is not installed; run scripts/setup-peers.sh (Debian package prometheus)`);
  }
  let lastError = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = mkdtempSync(path.join(tmpdir(), "pushkit-prometheus-"));
    const config = path.join(dir, "prometheus.yml");
    const data = path.join(dir, "data");
    mkdirSync(data);
    writeFileSync(config, o.config ?? "global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\nscrape_configs: []\n");
    const port = await freePort();
    const child = spawn(
      PROMETHEUS_BINARY,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${data}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--web.enable-remote-write-receiver",
        "--log.level=warn",
      ],
      { stdio: ["ignore", "pipe", "pipe"], env: o.env ?? process.env },
    );
    let output = "";
    child.stdout!.on("data", (d) => (output += d));
    child.stderr!.on("data", (d) => (output += d));
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    const alive = () => child.exitCode === null && child.signalCode === null;
    const url = `http://127.0.0.1:${port}`;
    const until = Date.now() + 20_000;
    while (Date.now() < until && alive()) {
      if ((await status(`${url}/-/ready`)) === 200) {
        const pid = child.pid!;
        return {
          url,
          writeUrl: `${url}/api/v1/write`,
          pid,
          child,
          dir,
          output: () => output,
          async query(expr, timeMs = Date.now()) {
            const q = new URLSearchParams({ query: expr, time: (timeMs / 1000).toFixed(3) });
            const res = await fetch(`${url}/api/v1/query?${q}`);
            const body = (await res.json()) as { status: string; data?: { resultType: string; result: VectorSample[] }; error?: string };
            if (res.status !== 200 || body.status !== "success") throw new Error(`query ${expr}: ${res.status} ${JSON.stringify(body)}`);
            if (body.data!.resultType !== "vector") throw new Error(`query ${expr}: expected a vector, got ${body.data!.resultType}`);
            return body.data!.result;
          },
          async targets() {
            const res = await fetch(`${url}/api/v1/targets?state=active`);
            const body = (await res.json()) as { status: string; data?: { activeTargets: ScrapeTarget[] } };
            if (res.status !== 200 || body.status !== "success") throw new Error(`targets: ${res.status} ${JSON.stringify(body)}`);
            return body.data!.activeTargets;
          },
          async stop() {
            if (alive()) process.kill(pid, "SIGTERM");
            await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
            if (alive()) {
              process.kill(pid, "SIGKILL");
              await exited;
            }
            rmSync(dir, { recursive: true, force: true });
          },
        };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    lastError = `prometheus did not become ready on port ${port}; output:\n${output}`;
    if (alive()) process.kill(child.pid!, "SIGKILL");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
  throw new Error(lastError);
}
