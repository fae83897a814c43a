// The reference Pushgateway's persistence file, read for migration. Layout (prometheus/pushgateway
// v1.5.1: storage/diskmetricstore.go persist() gob-encodes the store's group map, restore()
// decodes it; the types are in storage/interface.go, unchanged up to 1.11):
//
//   GroupingKeyToMetricGroup = map[string]MetricGroup            (key: label names and values, sorted, joined by 0xff)
//   MetricGroup = struct { Labels map[string]string; Metrics NameToTimestampedMetricFamilyMap }
//   NameToTimestampedMetricFamilyMap = map[string]TimestampedMetricFamily   (key: family name)
//   TimestampedMetricFamily = struct { Timestamp time.Time; GobbableMetricFamily *GobbableMetricFamily }
//
// time.Time is a GobEncoder (MarshalBinary: version 1 or 2, seconds since year 1 as int64,
// nanoseconds as int32, zone offset in minutes as int16, all big-endian; version 2 adds the
// offset's seconds); GobbableMetricFamily is a GobEncoder whose bytes are the family's protobuf
// MetricFamily message (proto.Marshal). The family's metrics carry the grouping labels and
// instance="" as the reference stored them. push_time_seconds and push_failure_time_seconds
// are families of the group too: one gauge each, the value float64(UnixNano)/1e9 of the last
// successful and the last failed change (0 for none); a group created by a refused push has
// push_time_seconds 0. The encoder also sends the definitions of dto.MetricFamily's struct
// fields (it describes a GobEncoder's underlying type too); nothing uses them.
import { BodyParseError } from "../../../formats/prometheus/model.ts";
import type { MetricFamily } from "../../../formats/prometheus/model.ts";
import { parseProtobuf } from "../../../formats/prometheus/parse-protobuf.ts";
import { decodeGob, GobError, looksLikeGob, type GobRawString, type GobStruct, type GobValue } from "./gob.ts";
import { PUSH_FAILURE_TIME, PUSH_TIME, type SavedFamily } from "./store.ts";

/** The file cannot be read as a reference Pushgateway's persistence file (damaged, or something else). */
export class ReferenceFileError extends Error {
  constructor(detail: string) {
    super(`not a readable Pushgateway persistence file: ${detail}`);
    this.name = "ReferenceFileError";
  }
}

/** A group as GroupStore.restore() takes it. */
export interface ReferenceGroup {
  /** Grouping labels, sorted by name. */
  labels: [string, string][];
  /** The pushed families, without the two push-time gauges. */
  families: SavedFamily[];
  /** ms since the epoch, chosen so that pushTimeMs / 1000 is the reference's push_time_seconds (see msServedAs). */
  pushTimeMs: number;
  failureTimeMs: number;
  /** As the reference tells it (MetricGroup.LastPushSuccess). */
  lastPushSuccessful: boolean;
}

/** A group the file holds that pushkit cannot take as it is, and why. */
export interface UnreadableGroup {
  labels: [string, string][];
  reason: string;
}

export interface ReferenceFile {
  /** Sorted by their labels. */
  groups: ReferenceGroup[];
  unreadable: UnreadableGroup[];
}

/** Whether the bytes start as a gob stream (a pushkit file is JSON and starts otherwise). */
export function isReferenceFile(bytes: Uint8Array): boolean {
  return looksLikeGob(bytes);
}

/** Something wrong within one group: that group is not imported, the others are. */
class GroupProblem extends Error {}

const UNIX_TO_INTERNAL = 62_135_596_800n; // seconds from year 1 to 1970 (Go's time.unixToInternal)

function isStruct(v: GobValue | undefined): v is GobStruct {
  return typeof v === "object" && !Array.isArray(v) && !(v instanceof Uint8Array) && v.kind === "struct";
}

function isRaw(v: GobValue): v is GobRawString {
  return typeof v === "object" && !Array.isArray(v) && !(v instanceof Uint8Array) && v.kind === "raw string";
}

/** A struct of exactly these fields (in this order), as the layout above has it. */
function fieldsOf(v: GobValue | undefined, what: string, names: readonly string[]): Map<string, GobValue> {
  if (!isStruct(v)) throw new ReferenceFileError(`${what} is not a struct`);
  const have = v.type.fields.map((f) => f.name);
  if (have.join(",") !== names.join(",")) throw new ReferenceFileError(`${what} has the fields ${have.join(", ") || "(none)"}, expected ${names.join(", ")}`);
  return v.fields;
}

/** A map's entries; gob leaves a nil map out, which reads as empty. */
function entriesOf(v: GobValue | undefined, what: string): [GobValue, GobValue][] {
  if (v === undefined) return [];
  if (typeof v !== "object" || Array.isArray(v) || v instanceof Uint8Array || v.kind !== "map") throw new ReferenceFileError(`${what} is not a map`);
  return v.entries;
}

/** An external (GobEncoder) value's bytes, or undefined when left out (zero time, nil family). */
function externalOf(v: GobValue | undefined, what: string): Uint8Array | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "object" || Array.isArray(v) || v instanceof Uint8Array || v.kind !== "external") throw new ReferenceFileError(`${what} is not a GobEncoder's data`);
  return v.bytes;
}

/** A string; one that is not UTF-8 is the group's problem (pushkit keeps strings as UTF-8). */
function stringOf(v: GobValue, what: string): string {
  if (typeof v === "string") return v;
  if (isRaw(v)) throw new GroupProblem(`${what} ${JSON.stringify(Buffer.from(v.bytes).toString("latin1"))} is not valid UTF-8`);
  throw new ReferenceFileError(`${what} is not a string`);
}

/** time.Time's MarshalBinary form, as ms since the epoch (whole ms); undefined for the zero time. */
function timeMs(b: Uint8Array, what: string): number | undefined {
  const version = b[0];
  if (!((version === 1 && b.length === 15) || (version === 2 && b.length === 16))) {
    throw new GroupProblem(`${what}: not a time.Time (${b.length} bytes, version ${version ?? "none"})`);
  }
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const sec = view.getBigInt64(1, false);
  const nsec = view.getInt32(9, false);
  if (nsec < 0 || nsec >= 1e9) throw new GroupProblem(`${what}: not a time.Time (nanoseconds ${nsec})`);
  if (sec === 0n && nsec === 0) return undefined;
  const ms = Number(sec - UNIX_TO_INTERNAL) * 1000 + Math.floor(nsec / 1e6);
  if (!Number.isSafeInteger(ms)) throw new GroupProblem(`${what}: time out of range`);
  return ms;
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** One MetricFamily message, through the push parser (as a delimited body of one record). */
function family(bytes: Uint8Array, name: string): MetricFamily {
  let families: MetricFamily[];
  try {
    families = parseProtobuf(Buffer.concat([Buffer.from(varint(bytes.length)), bytes]));
  } catch (e) {
    if (!(e instanceof BodyParseError)) throw e;
    throw new GroupProblem(`family ${JSON.stringify(name)}: ${e.message}`);
  }
  const f = families[0];
  if (f.name !== name) throw new GroupProblem(`family ${JSON.stringify(name)} holds a family named ${JSON.stringify(f.name)}`);
  return f;
}

/** The value of a push-time gauge (seconds). */
function gaugeSeconds(f: MetricFamily): number {
  const v = f.metrics[0]?.value;
  if (f.type !== "GAUGE" || f.metrics.length !== 1 || v === undefined || !Number.isFinite(v) || v < 0) {
    throw new GroupProblem(`${f.name} is not one gauge of a time: ${f.type} with ${f.metrics.length} metric(s)`);
  }
  return v;
}

const f64 = new Float64Array(1);
const bits = new BigUint64Array(f64.buffer);

/** The next double after the positive x, upwards (dir 1) or downwards (dir -1). */
function nextDouble(x: number, dir: 1 | -1): number {
  f64[0] = x;
  bits[0] += dir === 1 ? 1n : -1n;
  return f64[0];
}

/**
 * The ms value the store is given for a push-time gauge of `seconds`: pushkit serves those
 * gauges as ms / 1000, so the double m nearest seconds * 1000 with m / 1000 === seconds,
 * when there is one (not every double is such a quotient: then the one whose quotient is
 * nearest, one unit in the last place off).
 */
export function msServedAs(seconds: number): number {
  const guess = seconds * 1000;
  if (guess === 0 || guess / 1000 === seconds) return guess;
  let best = guess;
  let bestError = Math.abs(guess / 1000 - seconds);
  for (const dir of [1, -1] as const) {
    let m = guess;
    for (let i = 0; i < 4; i++) {
      m = nextDouble(m, dir);
      const error = Math.abs(m / 1000 - seconds);
      if (error === 0) return m;
      if (error < bestError) [best, bestError] = [m, error];
    }
  }
  return best;
}

function labelsOf(v: GobValue | undefined): [string, string][] {
  const labels = entriesOf(v, "a group's Labels").map(([n, value]) => [stringOf(n, "a grouping label name"), stringOf(value, "a grouping label value")] as [string, string]);
  return labels.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** One MetricGroup; throws GroupProblem for content pushkit cannot take. */
function group(fields: Map<string, GobValue>, labels: [string, string][]): ReferenceGroup {
  const families: SavedFamily[] = [];
  let pushSeconds: number | undefined;
  let failureSeconds: number | undefined;
  let latestMs = 0;
  for (const [k, v] of entriesOf(fields.get("Metrics"), "a group's Metrics")) {
    const name = stringOf(k, "a family name");
    const tmf = fieldsOf(v, `family ${JSON.stringify(name)}`, ["Timestamp", "GobbableMetricFamily"]);
    const time = externalOf(tmf.get("Timestamp"), `the Timestamp of family ${JSON.stringify(name)}`);
    const ms = time === undefined ? undefined : timeMs(time, `the Timestamp of family ${JSON.stringify(name)}`);
    const pb = externalOf(tmf.get("GobbableMetricFamily"), `family ${JSON.stringify(name)}`);
    if (pb === undefined) throw new GroupProblem(`family ${JSON.stringify(name)} is nil`);
    const f = family(pb, name);
    if (name === PUSH_TIME) pushSeconds = gaugeSeconds(f);
    else if (name === PUSH_FAILURE_TIME) failureSeconds = gaugeSeconds(f);
    else families.push({ family: f, timeMs: ms ?? NaN });
    if (ms !== undefined && ms > latestMs) latestMs = ms;
  }
  // Both gauges are in every group the reference wrote; without them, the latest family time counts.
  const pushTimeMs = pushSeconds === undefined ? latestMs : msServedAs(pushSeconds);
  for (const sf of families) if (Number.isNaN(sf.timeMs)) sf.timeMs = pushTimeMs;
  return {
    labels,
    families,
    pushTimeMs,
    failureTimeMs: failureSeconds === undefined ? 0 : msServedAs(failureSeconds),
    lastPushSuccessful: pushSeconds === undefined || failureSeconds === undefined || failureSeconds <= pushSeconds,
  };
}

const byLabels = (a: { labels: [string, string][] }, b: { labels: [string, string][] }) => {
  const ka = JSON.stringify(a.labels);
  const kb = JSON.stringify(b.labels);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};

/**
 * Reads a reference persistence file. Throws ReferenceFileError when the file as a whole is
 * not one (the gob stream is damaged, or holds something else); a group whose content pushkit
 * cannot take (a family its protobuf parser refuses, a string that is not UTF-8) is listed in
 * `unreadable` and the others are read.
 */
export function readReferenceFile(bytes: Uint8Array): ReferenceFile {
  let top: GobValue;
  try {
    top = decodeGob(bytes).value;
  } catch (e) {
    if (e instanceof GobError) throw new ReferenceFileError(e.message);
    throw e;
  }
  const out: ReferenceFile = { groups: [], unreadable: [] };
  for (const [, v] of entriesOf(top, "the file's value")) {
    const fields = fieldsOf(v, "a group", ["Labels", "Metrics"]);
    let labels: [string, string][] = [];
    try {
      labels = labelsOf(fields.get("Labels"));
      out.groups.push(group(fields, labels));
    } catch (e) {
      if (!(e instanceof GroupProblem)) throw e;
      out.unreadable.push({ labels, reason: e.message });
    }
  }
  out.groups.sort(byLabels);
  out.unreadable.sort(byLabels);
  return out;
}
