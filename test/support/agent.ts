// Runs the real agent as a child process (node + tsx, as `npm start` does) on an ephemeral
// port with a temporary conf.d, for integration tests.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface AgentOptions {
  /** Files to write into conf.d, by relative path. "agent.conf" gets a file sink unless given. */
  conf?: Record<string, string>;
  env?: Record<string, string>;
  args?: string[];
  /** Keys added to the default [[sinks.file]] table (replacing its flush_interval when given). */
  sink?: string;
}

export interface RunningTestAgent {
  url: string;
  dir: string;
  pointsFile: string;
  child: ChildProcess;
  stderr(): string;
  /** Lines of line protocol written so far. */
  lines(): string[];
  /** Waits until at least n lines were written (or fails after the timeout). */
  waitForLines(n: number, timeoutMs?: number): Promise<string[]>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  cleanup(): void;
}

export function defaultAgentConf(pointsFile: string, sink = 'flush_interval = "20ms"'): string {
  return `[http]
listen = "127.0.0.1:0"
[log]
level = "debug"
format = "json"
[[sinks.file]]
path = ${JSON.stringify(pointsFile)}
${sink}
`;
}

export function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "core/cli.ts", ...args], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

export async function startTestAgent(o: AgentOptions = {}): Promise<RunningTestAgent> {
  const dir = mkdtempSync(path.join(tmpdir(), "pushkit-test-"));
  const confDir = path.join(dir, "conf.d");
  mkdirSync(confDir);
  const pointsFile = path.join(dir, "points.lp");
  const conf = { "agent.conf": defaultAgentConf(pointsFile, o.sink), ...o.conf };
  for (const [name, text] of Object.entries(conf)) {
    mkdirSync(path.dirname(path.join(confDir, name)), { recursive: true });
    writeFileSync(path.join(confDir, name), text);
  }
  const child = spawn(process.execPath, ["--import", "tsx", "core/cli.ts", "run", "--conf-dir", confDir, ...(o.args ?? [])], {
    cwd: repoRoot,
    // Each agent keeps its queues and dead letters in its own temporary directory.
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ENV_DATA_DIR: path.join(dir, "data"), ...o.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  let stdout = "";
  child.stdout!.on("data", (d) => (stdout += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent did not start in time; stderr:\n${stderr}`)), 15_000);
    child.stderr!.on("data", (d) => {
      stderr += d;
      for (const line of stderr.split("\n")) {
        if (!line.includes('"pushkit started"')) continue;
        const { listen, scheme } = JSON.parse(line) as { listen: string; scheme?: string };
        clearTimeout(timer);
        resolve(`${scheme ?? "http"}://${listen}`);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`agent exited with ${code} before it started; stderr:\n${stderr}`));
    });
  });

  const lines = () => {
    const text = existsSync(pointsFile) ? readFileSync(pointsFile, "utf8") : "";
    return [...text.split("\n").filter((l) => l !== ""), ...stdout.split("\n").filter((l) => l !== "")];
  };

  return {
    url,
    dir,
    pointsFile,
    child,
    stderr: () => stderr,
    lines,
    async waitForLines(n, timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const got = lines();
        if (got.length >= n) return got;
        if (Date.now() > until) throw new Error(`expected ${n} lines, got ${got.length}:\n${got.join("\n")}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    cleanup() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Drops the timestamp of a line-protocol line. */
export function withoutTime(line: string): string {
  return line.slice(0, line.lastIndexOf(" "));
}
