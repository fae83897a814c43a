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

/**
 * Writes points straight into line protocol, series by series: the measurement and tags of
 * a series are escaped once for all its points (and once per extra tag such as a bucket's
 * le). The lines are the ones LineEncoder writes for the same points.
 */
export class LineWriter implements PointWriter {
  private readonly chunks: LineChunks;
  private readonly time = new TimeText();
  private head = "";
  private lastMeasurement: string | undefined;
  private tags: Record<string, string> = {};
  private key = "";
  private extraKey: string | undefined;
  private before = "";
  private beforeEmpty = "";
  private after = "";
  private lastField = "";
  private lastFieldText = "";

  constructor(linesPerChunk = 2000) {
    this.chunks = new LineChunks(linesPerChunk);
  }

  /** Lines written so far. */
  get lines(): number {
    return this.chunks.lines;
  }

  series(measurement: string, tags: Record<string, string>): void {
    this.head = measurement === this.lastMeasurement ? this.head : escapeMeasurement(measurement);
    this.lastMeasurement = measurement;
    this.tags = tags;
    let text = tagsInOrder(tags);
    if (text === UNSORTED) text = tagsSorted(tags);
    this.key = this.head + text;
    this.extraKey = undefined;
  }

  /** The series key with one more tag: the text before and after its place is found once per series. */
  private withExtra(extraKey: string, extraValue: string): string {
    if (extraKey !== this.extraKey) {
      this.extraKey = extraKey;
      let before = this.head;
      let after = "";
      for (const k of Object.keys(this.tags).sort()) {
        const v = this.tags[k];
        if (k === extraKey || v === "") continue;
        const seg = "," + escapeKey(k) + "=" + escapeKey(v);
        if (k < extraKey) before += seg;
        else after += seg;
      }
      this.before = before + "," + escapeKey(extraKey) + "=";
      this.beforeEmpty = before;
      this.after = after;
    }
    return extraValue === "" ? this.beforeEmpty + this.after : this.before + escapeKey(extraValue) + this.after;
  }

  private fieldText(field: string): string {
    if (field !== this.lastField) {
      this.lastField = field;
      this.lastFieldText = escapeKey(field);
    }
    return this.lastFieldText;
  }

  add(time: bigint, field: string, value: number, extraKey?: string, extraValue?: string): void {
    if (!Number.isFinite(value)) return;
    const key = extraKey === undefined ? this.key : this.withExtra(extraKey, extraValue!);
    this.chunks.add(key + " " + this.fieldText(field) + "=" + fieldValue(value) + " " + this.time.of(time));
  }

  addTwo(time: bigint, field1: string, value1: number, field2: string, value2: number): void {
    let fields = "";
    if (Number.isFinite(value1)) fields = escapeKey(field1) + "=" + fieldValue(value1);
    if (Number.isFinite(value2)) fields += (fields === "" ? "" : ",") + escapeKey(field2) + "=" + fieldValue(value2);
    if (fields !== "") this.chunks.add(this.key + " " + fields + " " + this.time.of(time));
  }

  /** Everything written, as chunks of whole lines. */
  finish(): Buffer[] {
    return this.chunks.finish();
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
