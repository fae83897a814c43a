// InfluxDB line protocol: `measurement,tag=v field=1.5 1700000000000000000`.
// Tags and fields are written sorted by key, empty tag values are left out.
import type { FieldValue, Point, PointWriter } from "./point.ts";

const MEASUREMENT_SPECIAL = /[, \\\n\r\t]/;
const KEY_SPECIAL = /[,= \\\n\r\t]/;

// Line protocol has no escape for a line break, so control characters become their
// two-character spelling (as Telegraf does); a backslash is doubled only where a reader
// would otherwise take it for the start of an escape (or for escaping the delimiter after
// it), so that decodeLineProtocol gives back exactly the original strings.
function escape(s: string, special: RegExp, escapable: string): string {
  if (!special.test(s)) return s;
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    switch (c) {
      case "\n": out += "\\n"; break;
      case "\r": out += "\\r"; break;
      case "\t": out += "\\t"; break;
      case "\\": {
        const next = s[i + 1];
        out += next === undefined || escapable.includes(next) || next === "\\" || next === "n" || next === "r" || next === "t" ? "\\\\" : "\\";
        break;
      }
      default:
        out += escapable.includes(c) ? "\\" + c : c;
    }
  }
  return out;
}

export function escapeMeasurement(s: string): string {
  return escape(s, MEASUREMENT_SPECIAL, ", ");
}

export function escapeKey(s: string): string {
  return escape(s, KEY_SPECIAL, ",= ");
}

function fieldValue(v: FieldValue): string {
  switch (typeof v) {
    case "number": return v === 0 && 1 / v < 0 ? "-0" : String(v);
    case "bigint": return `${v}i`;
    case "boolean": return v ? "true" : "false";
    default: return `"${v.replace(/[\\"]/g, "\\$&")}"`;
  }
}

/** True when a float field can be written (line protocol has no NaN or infinity). */
export function isWritable(v: FieldValue): boolean {
  return typeof v !== "number" || Number.isFinite(v);
}

const UNSORTED = "\u0000unsorted";

// for-in walks keys in insertion order without allocating; when a producer did not insert
// them sorted, the walk gives up and the sorted path runs instead.
function fieldsInOrder(fields: Record<string, FieldValue>): string {
  let out = "";
  let prev = "";
  for (const k in fields) {
    if (k < prev) return UNSORTED;
    prev = k;
    const v = fields[k];
    if (isWritable(v)) out += (out === "" ? "" : ",") + escapeKey(k) + "=" + fieldValue(v);
  }
  return out;
}

function fieldsSorted(fields: Record<string, FieldValue>): string {
  let out = "";
  for (const k of Object.keys(fields).sort()) {
    const v = fields[k];
    if (isWritable(v)) out += (out === "" ? "" : ",") + escapeKey(k) + "=" + fieldValue(v);
  }
  return out;
}

function tagsInOrder(tags: Record<string, string>): string {
  let out = "";
  let prev = "";
  for (const k in tags) {
    if (k < prev) return UNSORTED;
    prev = k;
    const v = tags[k];
    if (v !== "") out += "," + escapeKey(k) + "=" + escapeKey(v);
  }
  return out;
}

function tagsSorted(tags: Record<string, string>): string {
  let out = "";
  for (const k of Object.keys(tags).sort()) {
    const v = tags[k];
    if (v !== "") out += "," + escapeKey(k) + "=" + escapeKey(v);
  }
  return out;
}

/** The text of a timestamp, remembered: most points of a push share theirs. */
class TimeText {
  private last: bigint | undefined;
  private text = "";

  of(time: bigint): string {
    if (time !== this.last) {
      this.last = time;
      this.text = String(time);
    }
    return this.text;
  }
}

/**
 * Lines gathered into UTF-8 buffers of up to `linesPerChunk` lines each, for writev: many
 * small strings turned into bytes chunk by chunk stay cheap, where one huge string does not.
 */
class LineChunks {
  private readonly chunks: Buffer[] = [];
  private text = "";
  private inChunk = 0;
  lines = 0;

  constructor(private readonly linesPerChunk: number) {}

  add(line: string): void {
    this.text += line + "\n";
    this.lines++;
    if (++this.inChunk === this.linesPerChunk) {
      this.chunks.push(Buffer.from(this.text));
      this.text = "";
      this.inChunk = 0;
    }
  }

  finish(): Buffer[] {
    if (this.text !== "") this.chunks.push(Buffer.from(this.text));
    this.text = "";
    this.inChunk = 0;
    return this.chunks;
  }
}

/** Encodes points, remembering the text of the last timestamp (most points of a push share it). */
export class LineEncoder {
  private readonly time = new TimeText();

  /** One point's line without "\n"; "" for a point that has no writable field. */
  encode(p: Point): string {
    // Keys are written sorted; producers that insert them in order skip the sort.
    let fields = fieldsInOrder(p.fields);
    if (fields === UNSORTED) fields = fieldsSorted(p.fields);
    if (fields === "") return "";
    let tags = tagsInOrder(p.tags);
    if (tags === UNSORTED) tags = tagsSorted(p.tags);
    return escapeMeasurement(p.measurement) + tags + " " + fields + " " + this.time.of(p.time);
  }

  /** A batch as UTF-8 buffers of up to `linesPerChunk` whole lines each. */
  encodeChunks(points: readonly Point[], linesPerChunk = 2000): Buffer[] {
    const chunks = new LineChunks(linesPerChunk);
    for (const p of points) {
      const line = this.encode(p);
      if (line !== "") chunks.add(line);
    }
    return chunks.finish();
  }

  /** A batch, one line per point, each ending in "\n". */
  encodeBatch(points: readonly Point[]): string {
    let out = "";
    for (const p of points) {
      const line = this.encode(p);
      if (line !== "") out += line + "\n";
    }
    return out;
  }
}

// Byte by byte: LineWriter puts lines straight into buffers, so that writing a line makes no
// strings (no escaped copies, no digits of a whole number, no series key) and nothing is
// turned into bytes twice. What it writes is spelled by the same rules as LineEncoder's text.

/** Character codes that an escape function changes (all ASCII), as a lookup table. */
function specials(chars: string): Uint8Array {
  const table = new Uint8Array(128);
  for (const c of chars) table[c.charCodeAt(0)] = 1;
  return table;
}

const KEY_SPECIALS = specials(",= \\\n\r\t");
const MEASUREMENT_SPECIALS = specials(", \\\n\r\t");

/** Most UTF-8 bytes that a string of `length` UTF-16 units takes, escaped or not. */
function utf8Bound(length: number): number {
  return 3 * length;
}

/** Longest text of a number: String(-2.2250738585072014e-308) has 24 characters. */
const NUMBER_ROOM = 32;

const utf8 = new TextEncoder();

/** Writes s as UTF-8 at p (the caller made room); returns where it ends. */
function putText(buf: Uint8Array, p: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return putUtf8(buf, p, s);
    buf[p + i] = c;
  }
  return p + s.length;
}

// A lone surrogate becomes U+FFFD here as in Buffer.from(s).
function putUtf8(buf: Uint8Array, p: number, s: string): number {
  return p + utf8.encodeInto(s, buf.subarray(p)).written;
}

/** s as UTF-8, without a call into C++ when it is ASCII (nearly every key, every timestamp). */
function bytesOf(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return utf8.encode(s);
    out[i] = c;
  }
  return out;
}

const NO_BYTES: Uint8Array = new Uint8Array(0);

/** An extra tag, ",key=value" (nothing for an empty value); returns where it ends. */
function putTag(buf: Uint8Array, p: number, key: string, value: string): number {
  if (value === "") return p;
  buf[p++] = 44; // ","
  p = putEscaped(buf, p, key, KEY_SPECIALS, escapeKey);
  buf[p++] = 61; // "="
  return putEscaped(buf, p, value, KEY_SPECIALS, escapeKey);
}

/** Writes s escaped as `escape` spells it; plain ASCII (nearly every key and value) is copied as it is. */
function putEscaped(buf: Uint8Array, p: number, s: string, special: Uint8Array, escape: (s: string) => string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80 || special[c] === 1) return putUtf8(buf, p, escape(s));
    buf[p + i] = c;
  }
  return p + s.length;
}

function put(buf: Uint8Array, p: number, bytes: Uint8Array): number {
  buf.set(bytes, p);
  return p + bytes.length;
}

/** Writes a finite float as fieldValue spells it; a whole number digit by digit, with no string made. */
function putNumber(buf: Uint8Array, p: number, v: number): number {
  // Beyond 2^53 String() may switch to exponent form: leave the spelling to it.
  if (!Number.isSafeInteger(v)) return putText(buf, p, String(v));
  if (v < 0 || (v === 0 && 1 / v < 0)) {
    buf[p++] = 45; // "-", -0 included
    v = -v;
  }
  let end = p + 1;
  for (let x = 10; x <= v; x *= 10) end++;
  // Digits by int32 arithmetic, many times faster than float %: in two parts beyond 1e9.
  if (v < 1e9) {
    putDigits(buf, end, v, 1);
    return end;
  }
  let high = Math.floor(v / 1e9);
  let low = v - high * 1e9;
  if (low < 0) {
    // v / 1e9 rounded up to the next whole number
    high--;
    low += 1e9;
  }
  putDigits(buf, putDigits(buf, end, low, 9), high, 1);
  return end;
}

/** Writes the digits of v (0 <= v < 2^31), at least `count` (zero-padded), ending at `end`; returns where they start. */
function putDigits(buf: Uint8Array, end: number, v: number, count: number): number {
  do {
    const q = (v / 10) | 0;
    buf[--end] = 48 + v - q * 10;
    v = q;
  } while (--count > 0 || v !== 0);
  return end;
}

/**
 * Lines as bytes in a buffer, cut into chunks of up to `linesPerChunk` whole lines (for
 * writev). When a line might not fit, the chunk ends there and the next starts in a new buffer.
 */
class LineBuffer {
  buf = Buffer.allocUnsafe(1024);
  /** How often buf was replaced: bytes written before are in an old one. */
  moves = 0;
  private pos = 0;
  private chunkStart = 0;
  private inChunk = 0;
  private readonly chunks: Buffer[] = [];
  lines = 0;

  constructor(private readonly linesPerChunk: number) {}

  /** Where the next line starts in `buf`, with room after it for `maxBytes`. */
  begin(maxBytes: number): number {
    if (this.pos + maxBytes > this.buf.length) this.grow(maxBytes);
    return this.pos;
  }

  /** Ends the line begun last, at `end` (after its "\n"). */
  end(end: number): void {
    this.pos = end;
    this.lines++;
    if (++this.inChunk === this.linesPerChunk) this.cut();
  }

  finish(): Buffer[] {
    if (this.inChunk > 0) this.cut();
    return this.chunks;
  }

  private cut(): void {
    this.chunks.push(this.buf.subarray(this.chunkStart, this.pos));
    this.chunkStart = this.pos;
    this.inChunk = 0;
  }

  // Four times larger up to 1 MiB: small pushes stay small, large ones allocate little.
  private grow(maxBytes: number): void {
    if (this.inChunk > 0) this.cut();
    this.buf = Buffer.allocUnsafe(Math.max(maxBytes, Math.min(4 * this.buf.length, 1 << 20)));
    this.moves++;
    this.pos = 0;
    this.chunkStart = 0;
  }
}

/** The bytes of a few recent field keys, escaped and with their "=": a push has few, each on many lines. */
class FieldKeys {
  private readonly keys: string[] = [];
  private readonly texts: Uint8Array[] = [];
  private next = 0;

  of(field: string): Uint8Array {
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] === field) return this.texts[i];
    const text = bytesOf(escapeKey(field) + "=");
    this.keys[this.next] = field;
    this.texts[this.next] = text;
    this.next = (this.next + 1) % 4;
    return text;
  }
}

/**
 * Writes points straight into line protocol, series by series: the measurement and tags of
 * a series (its key) are escaped once, straight into the first line that needs them; later
 * lines copy them from there (copyWithin, no view to make), putting an extra tag such as a
 * bucket's le into its place. The lines are the ones LineEncoder writes for the same points.
 */
export class LineWriter implements PointWriter {
  private readonly out: LineBuffer;
  private readonly fields = new FieldKeys();
  private measurement = "";
  /** Tags given as pairs (the first pairsLength entries)... */
  private pairs: readonly string[] = [];
  private pairsLength = 0;
  /** ...or as a Record (series()), then spelled as LineEncoder spells them. */
  private record: Record<string, string> | undefined;
  private recordText = "";
  /** Most bytes the key can take. */
  private keyBound = 0;
  /** Where the key was last written whole in out.buf (while out.moves is keyMoves), or -1. */
  private keyAt = -1;
  private keyMoves = 0;
  /** Once written: its length, and where each tag's ",key=value" starts in it (it ends where the next starts). */
  private keyLength = 0;
  private readonly tagStart: number[] = [];
  /** Where an extra tag of this key goes into the key, and where the key goes on after it (past a tag it replaces). */
  private extraKey: string | undefined;
  private extraCut = 0;
  private extraResume = 0;
  private time: bigint | undefined;
  /** " <time>\n" */
  private timeText = NO_BYTES;

  constructor(linesPerChunk = 2000) {
    this.out = new LineBuffer(linesPerChunk);
  }

  /** Lines written so far. */
  get lines(): number {
    return this.out.lines;
  }

  series(measurement: string, tags: Record<string, string>): void {
    let text = tagsInOrder(tags);
    if (text === UNSORTED) text = tagsSorted(tags);
    this.newSeries(measurement, utf8Bound(measurement.length + text.length));
    this.record = tags;
    this.recordText = text;
  }

  seriesPairs(measurement: string, pairs: readonly string[], length: number): void {
    let chars = measurement.length;
    for (let i = 0; i < length; i++) chars += pairs[i].length + 1; // with "," or "="
    this.newSeries(measurement, utf8Bound(chars));
    this.pairs = pairs;
    this.pairsLength = length;
  }

  add(time: bigint, field: string, value: number, extraKey?: string, extraValue?: string): void {
    if (!Number.isFinite(value)) return;
    if (extraKey !== undefined && this.record !== undefined) return this.addToRecord(time, field, value, extraKey, extraValue!);
    this.setTime(time);
    const fieldKey = this.fields.of(field);
    // Twice: putKeyWithFirst writes the extra tag past the key, then moves it.
    const extraRoom = extraKey === undefined ? 0 : 2 * utf8Bound(extraKey.length + extraValue!.length + 2);
    let p = this.out.begin(this.keyBound + extraRoom + 1 + fieldKey.length + NUMBER_ROOM + this.timeText.length);
    const buf = this.out.buf;
    p = extraKey === undefined ? this.putKey(buf, p) : this.putKeyWith(buf, p, extraKey, extraValue!);
    buf[p++] = 32; // " "
    p = putNumber(buf, put(buf, p, fieldKey), value);
    this.out.end(put(buf, p, this.timeText));
  }

  addTwo(time: bigint, field1: string, value1: number, field2: string, value2: number): void {
    const has1 = Number.isFinite(value1);
    const has2 = Number.isFinite(value2);
    if (!has1 && !has2) return;
    this.setTime(time);
    const key1 = this.fields.of(field1);
    const key2 = this.fields.of(field2);
    let p = this.out.begin(this.keyBound + key1.length + key2.length + 2 + 2 * NUMBER_ROOM + this.timeText.length);
    const buf = this.out.buf;
    p = this.putKey(buf, p);
    buf[p++] = 32; // " "
    if (has1) p = putNumber(buf, put(buf, p, key1), value1);
    if (has1 && has2) buf[p++] = 44; // ","
    if (has2) p = putNumber(buf, put(buf, p, key2), value2);
    this.out.end(put(buf, p, this.timeText));
  }

  /** Everything written, as chunks of whole lines. */
  finish(): Buffer[] {
    return this.out.finish();
  }

  private newSeries(measurement: string, keyBound: number): void {
    this.measurement = measurement;
    this.keyBound = keyBound;
    this.record = undefined;
    this.keyAt = -1;
    this.extraKey = undefined;
  }

  /** Whether the key is in out.buf to be copied. */
  private keyWritten(): boolean {
    return this.keyAt >= 0 && this.keyMoves === this.out.moves;
  }

  /** Writes the key at p: a copy of where it was written last, or else escaped afresh. */
  private putKey(buf: Buffer, p: number): number {
    if (this.keyWritten()) {
      buf.copyWithin(p, this.keyAt, this.keyAt + this.keyLength);
      return p + this.keyLength;
    }
    const end = this.record === undefined ? this.escapeKey(buf, p) : putText(buf, putEscaped(buf, p, this.measurement, MEASUREMENT_SPECIALS, escapeMeasurement), this.recordText);
    this.keyAt = p;
    this.keyMoves = this.out.moves;
    this.keyLength = end - p;
    return end;
  }

  private escapeKey(buf: Buffer, start: number): number {
    let p = putEscaped(buf, start, this.measurement, MEASUREMENT_SPECIALS, escapeMeasurement);
    const pairs = this.pairs;
    for (let i = 0; i < this.pairsLength; i += 2) {
      this.tagStart[i >> 1] = p - start;
      const value = pairs[i + 1];
      if (value === "") continue;
      buf[p++] = 44; // ","
      p = putEscaped(buf, p, pairs[i], KEY_SPECIALS, escapeKey);
      buf[p++] = 61; // "="
      p = putEscaped(buf, p, value, KEY_SPECIALS, escapeKey);
    }
    this.tagStart[this.pairsLength >> 1] = p - start;
    return p;
  }

  /** The key with one more tag in its place: the parts before and after that place copied around it. */
  private putKeyWith(buf: Buffer, p: number, extraKey: string, extraValue: string): number {
    if (!this.keyWritten()) return this.putKeyWithFirst(buf, p, extraKey, extraValue);
    if (extraKey !== this.extraKey) this.placeExtra(extraKey);
    const at = this.keyAt;
    buf.copyWithin(p, at, at + this.extraCut);
    p = putTag(buf, p + this.extraCut, extraKey, extraValue);
    buf.copyWithin(p, at + this.extraResume, at + this.keyLength);
    return p + this.keyLength - this.extraResume;
  }

  /**
   * The same for the first line of a series (rare: a bucket or quantile without a _count/_sum
   * line before it): the key is written whole, then the tag moved into it. That copy is then
   * not the key any more, so the next line escapes it again.
   */
  private putKeyWithFirst(buf: Buffer, start: number, extraKey: string, extraValue: string): number {
    const end = this.putKey(buf, start);
    this.keyAt = -1;
    if (extraKey !== this.extraKey) this.placeExtra(extraKey);
    const tailLength = this.keyLength - this.extraResume;
    const p = start + this.extraCut;
    const tag = putTag(buf, end, extraKey, extraValue) - end; // past the key for now
    buf.copyWithin(p + tag, start + this.extraResume, end + tag); // the tail, the tag after it
    buf.copyWithin(p, p + tag + tailLength, p + tag + tailLength + tag); // the tag into its place
    return p + tag + tailLength;
  }

  private placeExtra(extraKey: string): void {
    const pairs = this.pairs;
    const length = this.pairsLength;
    let i = 0;
    while (i < length && pairs[i] < extraKey) i += 2;
    const replaced = i < length && pairs[i] === extraKey;
    this.extraCut = this.tagStart[i >> 1];
    this.extraResume = this.tagStart[(i >> 1) + (replaced ? 1 : 0)];
    this.extraKey = extraKey;
  }

  private setTime(time: bigint): void {
    if (time === this.time) return;
    this.time = time;
    this.timeText = bytesOf(` ${time}\n`);
  }

  // Tags given as a Record and an extra tag: rare (the converter never does it), so the plain way.
  private addToRecord(time: bigint, field: string, value: number, extraKey: string, extraValue: string): void {
    const tags = this.record!;
    const withExtra: Record<string, string> = {};
    for (const k of Object.keys(tags).sort()) if (k !== extraKey) withExtra[k] = tags[k];
    withExtra[extraKey] = extraValue;
    this.series(this.measurement, withExtra);
    this.add(time, field, value);
    this.series(this.measurement, tags);
  }
}

export function encodePoint(p: Point): string {
  return new LineEncoder().encode(p);
}

export function encodeBatch(points: readonly Point[]): string {
  return new LineEncoder().encodeBatch(points);
}

// Decoding: the inverse of the encoder above, for sinks that need points back from a batch
// that travelled encoded (e.g. from a parse worker).

function unescape(s: string): string {
  if (!s.includes("\\")) return s;
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== "\\" || i + 1 >= s.length) {
      out += c;
      continue;
    }
    const n = s[i + 1];
    if (n === "n") out += "\n";
    else if (n === "r") out += "\r";
    else if (n === "t") out += "\t";
    else if (n === "\\" || n === "," || n === "=" || n === " ") out += n;
    else {
      out += c;
      continue;
    }
    i++;
  }
  return out;
}

/** Index of the first unescaped occurrence of one of `stops` in line[from..end), or end. */
function scan(line: string, from: number, end: number, stops: string, inQuotes = false): number {
  let quoted = false;
  for (let i = from; i < end; i++) {
    const c = line[i];
    if (c === "\\") {
      i++;
      continue;
    }
    if (inQuotes && c === '"') quoted = !quoted;
    else if (!quoted && stops.includes(c)) return i;
  }
  return end;
}

function decodeField(text: string, where: string): FieldValue {
  if (text.startsWith('"')) {
    if (text.length < 2 || !text.endsWith('"')) throw new Error(`${where}: unterminated string field`);
    return text.slice(1, -1).replace(/\\([\\"])/g, "$1");
  }
  if (/^[tT](rue|RUE)?$/.test(text)) return true;
  if (/^[fF](alse|ALSE)?$/.test(text)) return false;
  if (/^[+-]?\d+[iu]$/.test(text)) return BigInt(text.slice(0, -1));
  const v = Number(text);
  if (text === "" || Number.isNaN(v)) throw new Error(`${where}: bad field value "${text}"`);
  return v;
}

/** Parses line protocol (as written by LineEncoder) back into points. */
export function decodeLineProtocol(text: string): Point[] {
  const points: Point[] = [];
  let lineNo = 0;
  for (const line of text.split("\n")) {
    lineNo++;
    if (line === "" || line.startsWith("#")) continue;
    const where = `line ${lineNo}`;
    const keyEnd = scan(line, 0, line.length, " ");
    const fieldsEnd = scan(line, keyEnd + 1, line.length, " ", true);
    if (keyEnd >= line.length) throw new Error(`${where}: no fields`);
    const key = line.slice(0, keyEnd);
    const firstComma = scan(key, 0, key.length, ",");
    const tags: Record<string, string> = {};
    for (let i = firstComma; i < key.length; ) {
      const next = scan(key, i + 1, key.length, ",");
      const pair = key.slice(i + 1, next);
      const eq = scan(pair, 0, pair.length, "=");
      if (eq >= pair.length) throw new Error(`${where}: tag without "=": ${pair}`);
      tags[unescape(pair.slice(0, eq))] = unescape(pair.slice(eq + 1));
      i = next;
    }
    const fields: Record<string, FieldValue> = {};
    const fieldText = line.slice(keyEnd + 1, fieldsEnd);
    for (let i = 0; i < fieldText.length; ) {
      const next = scan(fieldText, i, fieldText.length, ",", true);
      const pair = fieldText.slice(i, next);
      const eq = scan(pair, 0, pair.length, "=");
      if (eq >= pair.length) throw new Error(`${where}: field without "=": ${pair}`);
      fields[unescape(pair.slice(0, eq))] = decodeField(pair.slice(eq + 1), where);
      i = next + 1;
    }
    const timeText = line.slice(fieldsEnd + 1);
    if (!/^-?\d+$/.test(timeText)) throw new Error(`${where}: bad timestamp "${timeText}"`);
    points.push({ measurement: unescape(key.slice(0, firstComma)), tags, fields, time: BigInt(timeText) });
  }
  return points;
}
