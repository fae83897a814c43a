// Logs go to stderr (stdout may carry points): JSON lines, or pretty for a person at a terminal.
import { pino, type Logger } from "pino";
import pretty from "pino-pretty";

export function createLogger(level: string, format: string): Logger {
  const usePretty = format === "pretty" || (format === "auto" && process.stderr.isTTY === true);
  if (usePretty) {
    // A synchronous in-process stream: no worker thread, nothing lost at exit.
    return pino({ level }, pretty({ destination: 2, sync: true, colorize: process.stderr.isTTY === true, translateTime: "SYS:standard" }));
  }
  return pino({ level }, pino.destination({ dest: 2, sync: true }));
}
