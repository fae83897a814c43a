// Logs go to stderr (stdout may carry points): JSON lines, or pretty for a person at a terminal.
import { createRequire } from "node:module";
import { pino, type Logger } from "pino";
import type PinoPretty from "pino-pretty";

export function createLogger(level: string, format: string): Logger {
  const usePretty = format === "pretty" || (format === "auto" && process.stderr.isTTY === true);
  if (usePretty) {
    // Loaded only when used: a DaemonSet logging JSON does not pay for it in memory.
    const pretty = createRequire(import.meta.url)("pino-pretty") as typeof PinoPretty;
    // A synchronous in-process stream: no worker thread, nothing lost at exit.
    return pino({ level }, pretty({ destination: 2, sync: true, colorize: process.stderr.isTTY === true, translateTime: "SYS:standard" }));
  }
  return pino({ level }, pino.destination({ dest: 2, sync: true }));
}
