// An answer cut into chunks of about CHUNK bytes as it is written: small pieces are copied
// together, a large piece already in memory (a cached rendering) is handed on as it is.

export const CHUNK = 64 * 1024;

export class Chunks {
  private buf = Buffer.allocUnsafe(CHUNK);
  private length = 0;
  private readonly full: Buffer[] = [];

  /** Whether chunks are ready to be sent. */
  get ready(): boolean {
    return this.full.length > 0;
  }

  /** The chunks ready to be sent, taken out. */
  take(): Buffer[] {
    return this.full.splice(0);
  }

  /** Whatever is left, as the answer's last chunks. */
  end(): Buffer[] {
    this.flush();
    return this.take();
  }

  string(s: string): void {
    // A long string is rare (a HELP text, a huge label value): it gets a chunk of its own.
    if (s.length * 3 > CHUNK - this.length) {
      this.bytes(Buffer.from(s, "utf8"));
      return;
    }
    this.length += this.buf.write(s, this.length, "utf8");
    if (this.length >= CHUNK / 2) this.flush();
  }

  /** Appends bytes [from, to) of b, which must not change afterwards (it may be sent as it is). */
  bytes(b: Uint8Array, from = 0, to = b.length): void {
    const n = to - from;
    if (n >= CHUNK / 4) {
      this.flush();
      this.full.push(Buffer.from(b.buffer, b.byteOffset + from, n));
      return;
    }
    if (n > CHUNK - this.length) this.flush();
    // Most pieces are a metric's few dozen bytes: a loop costs less than a view of them to copy from.
    const buf = this.buf;
    let at = this.length;
    if (n < 128) for (let i = from; i < to; i++) buf[at++] = b[i];
    else buf.set(b.subarray(from, to), at);
    this.length += n;
    if (this.length >= CHUNK / 2) this.flush();
  }

  private flush(): void {
    if (this.length === 0) return;
    this.full.push(this.buf.subarray(0, this.length));
    this.buf = Buffer.allocUnsafe(CHUNK);
    this.length = 0;
  }
}
