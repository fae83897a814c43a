// InfluxDB line protocol: `measurement,tag=v field=1.5 1700000000000000000`.
// Tags and fields are written sorted by key, empty tag values are left out.
import type { FieldValue, Point } from "./point.ts";

const MEASUREMENT_SPECIAL = /[, \\\n\r\t]/;
const KEY_SPECIAL = /[,= \\\n\r\t]/;

// Line protocol has no escape for a line break, so control characters become their
// two-character spelling (as Telegraf does); a backslash is doubled only where the
// parser would otherwise read it as escaping what follows (or the delimiter after it).
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
        out += next === undefined || escapable.includes(next) || next === "\\" ? "\\\\" : "\\";
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
    case "number": return String(v);
    case "bigint": return `${v}i`;
    case "boolean": return v ? "true" : "false";
    default: return `"${v.replace(/[\\"]/g, "\\$&")}"`;
  }
}

/** True when a float field can be written (line protocol has no NaN or infinity). */
export function isWritable(v: FieldValue): boolean {
  return typeof v !== "number" || Number.isFinite(v);
}

/** Encodes one point; returns "" for a point that has no writable field. */
export function encodePoint(p: Point): string {
  let fields = "";
  const fieldKeys = Object.keys(p.fields);
  if (fieldKeys.length > 1) fieldKeys.sort();
  for (const k of fieldKeys) {
    const v = p.fields[k];
    if (!isWritable(v)) continue;
    fields += (fields === "" ? "" : ",") + escapeKey(k) + "=" + fieldValue(v);
  }
  if (fields === "") return "";
  let line = escapeMeasurement(p.measurement);
  const tagKeys = Object.keys(p.tags);
  if (tagKeys.length > 1) tagKeys.sort();
  for (const k of tagKeys) {
    const v = p.tags[k];
    if (v === "") continue;
    line += "," + escapeKey(k) + "=" + escapeKey(v);
  }
  return line + " " + fields + " " + p.time;
}

/** Encodes a batch, one line per point, each line ending in "\n". */
export function encodeBatch(points: readonly Point[]): string {
  let out = "";
  for (const p of points) {
    const line = encodePoint(p);
    if (line !== "") out += line + "\n";
  }
  return out;
}
