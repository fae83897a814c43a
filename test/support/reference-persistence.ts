// A persistence file written by the reference Pushgateway (Debian's prometheus-pushgateway
// 1.5.1): the reference runs with --persistence.file, is sent the pushes below (every metric
// type, HELP with escapes, NaN and infinities, escaped and non-ASCII label values, an @base64
// grouping value, an empty instance, a deleted group, and refused pushes: one with timestamps,
// which 1.5.1 always refuses, and one inconsistent with another group), answers
// GET /api/v1/metrics and GET /metrics, and is stopped with SIGTERM, which writes the file.
//
// test/integration/migration.test.ts makes a file this way at every run. Run as a script, this
// module writes the checked-in fixture that test/unit/reference-file.test.ts reads:
//   node --import tsx test/support/reference-persistence.ts
// writes test/fixtures/pushgateway-1.5.1/{groups.gob,api.json,metrics.txt}.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { b64url } from "./reference-corpus.ts";
import { closeConnections, send, startReference } from "./reference-peer.ts";
import { maskTimes, normaliseApi, parseExposition, TIME_GAUGES, type ApiGroupRaw } from "./store-sequences.ts";

export const FIXTURE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/pushgateway-1.5.1");

export interface ReferencePush {
  note: string;
  method: "PUT" | "POST" | "DELETE";
  path: string;
  body?: string;
  /** The reference's status. */
  status: number;
}

const BACKUP = `# HELP backup_duration_seconds How long the backup took.
# TYPE backup_duration_seconds summary
backup_duration_seconds{quantile="0.5"} 12.5
backup_duration_seconds{quantile="0.99"} 30
backup_duration_seconds_sum 50
backup_duration_seconds_count 4
# HELP backup_last_success_timestamp Last time Björn's backup succeeded (a \\\\ and a \\n in the help).
# TYPE backup_last_success_timestamp gauge
backup_last_success_timestamp 1.7e+09
# HELP backup_files_total Files written.
# TYPE backup_files_total counter
backup_files_total{kind="full"} 1200
backup_files_total{kind="incremental"} 35
# HELP backup_size_bytes Sizes of the files.
# TYPE backup_size_bytes histogram
backup_size_bytes_bucket{le="1024"} 3
backup_size_bytes_bucket{le="1.048576e+06"} 10
backup_size_bytes_bucket{le="+Inf"} 12
backup_size_bytes_sum 3.5e+07
backup_size_bytes_count 12
backup_untyped_thing{path="C:\\\\backup\\n\\"x\\"",zone="zürich"} 42
`;

export const PUSHES: ReferencePush[] = [
  { note: "every metric type, HELP, escapes", method: "PUT", path: "/metrics/job/backup/instance/db1", body: BACKUP, status: 200 },
  {
    note: "counter, NaN and infinities, untyped without TYPE",
    method: "POST",
    path: "/metrics/job/cron/instance/node-1",
    body: "# TYPE cron_runs_total counter\ncron_runs_total 7\n# HELP cron_temperature Not measured.\n# TYPE cron_temperature gauge\ncron_temperature NaN\ncron_limit +Inf\ncron_floor -Inf\n",
    status: 200,
  },
  { note: "a second POST to the same group adds a family", method: "POST", path: "/metrics/job/cron/instance/node-1", body: "# TYPE cron_last_run gauge\ncron_last_run 1.6e+09\n", status: 200 },
  {
    note: "@base64 grouping values with /",
    method: "PUT",
    path: `/metrics/job@base64/${b64url("/var/lib/db")}/path@base64/${b64url("/etc/cron.d/x")}`,
    body: "# HELP files_seen Files seen.\n# TYPE files_seen gauge\nfiles_seen 3\n",
    status: 200,
  },
  { note: "an empty instance through @base64", method: "PUT", path: "/metrics/job/empty-instance/instance@base64/=", body: "# TYPE up_ok gauge\nup_ok 1\n", status: 200 },
  { note: "a percent-escaped non-ASCII grouping value", method: "PUT", path: "/metrics/job/unicode/zone/z%C3%BCrich", body: "zone_value 2.5\n", status: 200 },
  { note: "a group that then fails", method: "PUT", path: "/metrics/job/flaky", body: "# TYPE flaky_ok gauge\nflaky_ok 1\n", status: 200 },
  {
    note: "a push inconsistent with another group (backup_files_total is a counter there): refused, the failure time set",
    method: "PUT",
    path: "/metrics/job/flaky",
    body: "# TYPE backup_files_total gauge\nbackup_files_total 1\n",
    status: 400,
  },
  { note: "a push with timestamps, which 1.5.1 refuses: creates the group with push time 0", method: "POST", path: "/metrics/job/never", body: "never_seen 1 1700000000000\n", status: 400 },
  { note: "a group pushed, then deleted", method: "PUT", path: "/metrics/job/gone", body: "gone_metric 1\n", status: 200 },
  { note: "the delete", method: "DELETE", path: "/metrics/job/gone", status: 202 },
];

export interface ReferenceFileRun {
  /** GET /api/v1/metrics before the stop, as answered. */
  api: string;
  /** GET /metrics before the stop, as answered (text 0.0.4). */
  metrics: string;
}

/** Runs the reference with `file` as its persistence file, sends PUSHES (checking each status), reads its answers, stops it (it writes the file). */
export async function writeReferenceFile(file: string): Promise<ReferenceFileRun> {
  const ref = await startReference([`--persistence.file=${file}`]);
  try {
    for (const p of PUSHES) {
      const a = await send(ref.url, { method: p.method, path: p.path, headers: {}, body: p.body === undefined ? undefined : Buffer.from(p.body) });
      if (a.status !== p.status) throw new Error(`${p.method} ${p.path} (${p.note}): the reference answered ${a.status} ${a.text}, expected ${p.status}`);
    }
    const api = await send(ref.url, { method: "GET", path: "/api/v1/metrics", headers: {} });
    const metrics = await send(ref.url, { method: "GET", path: "/metrics", headers: {} });
    if (api.status !== 200 || metrics.status !== 200) throw new Error(`reference answers: /api/v1/metrics ${api.status}, /metrics ${metrics.status}`);
    return { api: api.text, metrics: metrics.text };
  } finally {
    await ref.stop();
  }
}

// ---- Comparing pushkit's answers for an imported file with the reference's for that file -----

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);

/** How many doubles apart two numbers are. */
export function ulpsApart(a: number, b: number): number {
  f64[0] = a;
  const x = u64[0];
  f64[0] = b;
  const y = u64[0];
  return Number(x > y ? x - y : y - x);
}

const groupKey = (g: { labels: Record<string, string> }) => JSON.stringify(Object.entries(g.labels).sort());

/**
 * What differs between two GET /api/v1/metrics data arrays for the same groups, beyond what
 * may: families, types, help, labels, values and last_push_successful must be equal; each
 * family's time_stamp equal to the millisecond (pushkit keeps ms, the reference ns); the
 * push-time gauges within one unit in the last place (pushkit keeps them as ms, see
 * reference-file.ts msServedAs). The push-time gauges' own time_stamp is not compared.
 */
export function apiDifferences(pushkit: ApiGroupRaw[], reference: ApiGroupRaw[]): string[] {
  const out: string[] = [];
  const a = JSON.stringify(normaliseApi(pushkit), null, 1);
  const b = JSON.stringify(normaliseApi(reference), null, 1);
  if (a !== b) out.push(`groups differ:\npushkit ${a}\nreference ${b}`);
  const pk = new Map(pushkit.map((g) => [groupKey(g), g]));
  for (const ref of reference) {
    const mine = pk.get(groupKey(ref));
    if (!mine) continue;
    for (const [name, f] of Object.entries(ref)) {
      if (name === "labels" || name === "last_push_successful") continue;
      const theirs = f as { time_stamp: string; metrics: { value: string }[] };
      const ours = mine[name] as typeof theirs | undefined;
      if (!ours) continue;
      if (TIME_GAUGES.has(name)) {
        const [want, got] = [Number(theirs.metrics[0].value), Number(ours.metrics[0].value)];
        if (ulpsApart(got, want) > 1) out.push(`${groupKey(ref)} ${name}: ${got}, the reference ${want}`);
      } else if (Date.parse(ours.time_stamp) !== Date.parse(theirs.time_stamp)) {
        out.push(`${groupKey(ref)} ${name}: time_stamp ${ours.time_stamp}, the reference ${theirs.time_stamp}`);
      }
    }
  }
  return out;
}

/** What differs between two GET /metrics texts (own metrics left out): series, values (push-time gauges within one unit in the last place) and TYPEs. */
export function expositionDifferences(pushkit: string, pushkitOwn: (f: string) => boolean, reference: string, referenceOwn: (f: string) => boolean): string[] {
  const pk = parseExposition(pushkit, pushkitOwn);
  const ref = parseExposition(reference, referenceOwn);
  const out: string[] = [];
  const [a, b] = [JSON.stringify(maskTimes(pk.series), null, 1), JSON.stringify(maskTimes(ref.series), null, 1)];
  if (a !== b) out.push(`series differ:\npushkit ${a}\nreference ${b}`);
  if (JSON.stringify(pk.types) !== JSON.stringify(ref.types)) out.push(`TYPEs differ: pushkit ${JSON.stringify(pk.types)}, reference ${JSON.stringify(ref.types)}`);
  for (const [k, v] of Object.entries(ref.series)) {
    if (TIME_GAUGES.has(k.slice(0, k.indexOf("{"))) && k in pk.series && ulpsApart(Number(pk.series[k]), Number(v)) > 1) out.push(`${k}: ${pk.series[k]}, the reference ${v}`);
  }
  return out;
}

/** Writes the checked-in fixture again (see the top of this file). */
async function writeFixture(): Promise<void> {
  mkdirSync(FIXTURE_DIR, { recursive: true });
  const file = path.join(FIXTURE_DIR, "groups.gob");
  const run = await writeReferenceFile(file);
  writeFileSync(path.join(FIXTURE_DIR, "api.json"), run.api);
  writeFileSync(path.join(FIXTURE_DIR, "metrics.txt"), run.metrics);
  closeConnections();
  process.stdout.write(`wrote ${file} (${readFileSync(file).length} bytes), api.json and metrics.txt\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) void writeFixture();
