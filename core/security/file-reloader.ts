// Keeps something built from files (a TLS context, a credentials table) in step with them.
// The files are read again every interval and compared by content, not by mtime: a Kubernetes
// Secret update swaps a symlink, cert-manager rewrites in place, and both must be seen. A
// change that does not load is refused, the last good version kept, and why is logged once.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Logger } from "pino";

export class FileReloader<T> {
  private seen = "";
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(
    /** What the files are, for log lines: "TLS certificate", "bearer tokens". */
    readonly what: string,
    private readonly files: readonly string[],
    private readonly build: (contents: Buffer[]) => Promise<T> | T,
    private readonly apply: (value: T) => void,
    private readonly log: Logger,
  ) {}

  /** The first load: its errors are the caller's (the agent refuses to start). */
  async load(): Promise<void> {
    const contents = await this.read();
    this.apply(await this.build(contents));
    this.seen = digest(contents);
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.poll(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      let contents: Buffer[];
      try {
        contents = await this.read();
      } catch (e) {
        const key = `unreadable:${(e as Error).message}`;
        if (key !== this.seen) this.log.error({ files: this.files, reason: (e as Error).message }, `${this.what}: cannot read the file; keeping the last good one`);
        this.seen = key;
        return;
      }
      const d = digest(contents);
      if (d === this.seen) return;
      this.seen = d;
      try {
        this.apply(await this.build(contents));
        this.log.info({ files: this.files }, `${this.what} reloaded`);
      } catch (e) {
        this.log.error({ files: this.files, reason: (e as Error).message }, `${this.what}: the changed file is not valid; keeping the last good one`);
      }
    } finally {
      this.polling = false;
    }
  }

  private read(): Promise<Buffer[]> {
    return Promise.all(this.files.map((f) => readFile(f)));
  }
}

function digest(contents: Buffer[]): string {
  const h = createHash("sha256");
  for (const c of contents) h.update(String(c.length)).update(":").update(c);
  return h.digest("hex");
}
