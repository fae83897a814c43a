// The pushgateway input: an endpoint that speaks the Prometheus Pushgateway push protocol and
// turns every pushed metric family into points.
import { opt } from "../../../core/options.ts";
import { defineInput, type InputContext } from "../../../core/plugin.ts";
import type { ConvertOptions } from "../../formats/prometheus/convert.ts";
import path from "node:path";
import { Counter } from "prom-client";
import { VERSION } from "../../../core/version.ts";
import { apiRoutes } from "./http/api.ts";
import { Converter } from "../../formats/prometheus/convert.ts";
import { LABEL_NAME, parseOptions } from "../../formats/prometheus/model.ts";
import { Groups } from "./store/groups.ts";
import { ownNames } from "./own-metrics.ts";
import { ParsePool } from "./ingest/parse-pool.ts";
import type { WorkerSetup } from "./ingest/parse-worker.ts";
import { Persistence } from "./store/persistence.ts";
import { pushRoutes } from "./http/routes.ts";
import { statusPage } from "./http/status-page.ts";
import { GroupStore } from "./store/store.ts";
import { aggregateOption, AggregateRules } from "./aggregate/rules.ts";

/** What a parse worker needs to parse and convert like the main thread: plain data, it is copied to the worker. */
function workerSetup(o: ConvertOptions & Parameters<typeof parseOptions>[0]): WorkerSetup {
  const { measurement_name, job_as_measurement, keep_exist_metric_name, honor_timestamps, tags } = o;
  return { convert: { measurement_name, job_as_measurement, keep_exist_metric_name, honor_timestamps, tags }, parse: parseOptions(o) };
}

export const pushgatewayOptions = {
  route_prefix: opt.string({
    default: "",
    description: 'Path prefix of every route, e.g. "/v1/pushgateway" for /v1/pushgateway/metrics/job/<job>.',
    check: (v) => (v === "" || (/^\/[^?#\s]*[^/]$/.test(v) && !v.includes("//")) ? undefined : `must be empty or start with "/" and not end with "/", got "${v}"`),
  }),
  measurement_name: opt.string({
    default: "",
    description: "Measurement of every point; the field is then the full metric name.",
  }),
  job_as_measurement: opt.boolean({
    default: false,
    description: "Use the job as measurement (measurement_name wins); the field is then the full metric name.",
  }),
  keep_exist_metric_name: opt.boolean({
    default: false,
    description: "Field = the full metric name instead of what follows its first \"_\" (pushgateway_count -> field count).",
  }),
  honor_timestamps: opt.boolean({
    default: true,
    description: "Use a sample's pushed timestamp; otherwise every point of a push gets the time it was received.",
  }),
  max_body_bytes: opt.bytes({
    default: 16 * 1024 * 1024,
    min: 1,
    description: "Largest request body accepted on the wire; larger pushes get 413.",
  }),
  max_decompressed_bytes: opt.bytes({
    default: 64 * 1024 * 1024,
    min: 1,
    description: "Largest body accepted after decompression (gzip, snappy); larger pushes get 413.",
  }),
  max_inflight_bytes: opt.bytes({
    default: 128 * 1024 * 1024,
    min: 1,
    description: "Bytes held at once across pushes until each is stored: bodies as received and decompressed, and 256 bytes per parsed series; a push that would go over is refused with 503 and Retry-After. One push alone is always let through.",
  }),
  parse_workers: opt.integer({
    default: 2,
    min: 0,
    max: 64,
    description: "Worker threads that parse, convert and encode large pushes off the main thread, several at once; 0 parses every push on the main thread.",
  }),
  parse_worker_min_bytes: opt.bytes({
    default: 64 * 1024,
    min: 0,
    description: "Pushes at least this large (after decompression) go to a parse worker; smaller ones are cheaper to parse on the main thread.",
  }),
  consistency_check: opt.boolean({
    default: true,
    description: "Refuse (400) a push that the store could not serve consistently: a name with two types, the same series in two groups, x_count/x_sum/x_bucket beside a summary or histogram x. A refused push changes nothing but its group's failure time.",
  }),
  reject_timestamps: opt.boolean({
    default: false,
    description: "Refuse (400) pushes whose samples carry timestamps, as the reference Pushgateway does; by default they are kept and honoured.",
  }),
  sample_limit: opt.integer({
    default: 100_000,
    min: 0,
    description: "Most series one push may hold (a label set of a family: a summary or histogram with its quantiles or buckets is one), and most metric families; a push over it is refused whole with 400 as soon as the parser passes it. 0 for no limit.",
  }),
  label_limit: opt.integer({
    default: 64,
    min: 0,
    description: "Most labels on one pushed series, grouping labels included (instance=\"\" added by the store is not counted); over it the push is refused whole with 400. 0 for no limit.",
  }),
  label_name_length_limit: opt.integer({
    default: 256,
    min: 0,
    description: "Longest label name (characters) in a push's series or grouping key; over it the push is refused whole with 400. 0 for no limit.",
  }),
  label_value_length_limit: opt.integer({
    default: 4096,
    min: 0,
    description: "Longest label value (characters) in a push's series or grouping key, and longest metric name (the value of Prometheus' __name__); over it the push is refused whole with 400. 0 for no limit.",
  }),
  max_series: opt.integer({
    default: 250_000,
    min: 0,
    description: "Most series the whole store holds (as sample_limit counts them); a push that would take it over is refused whole with 507, like max_groups. 0 for no limit.",
  }),
  group_ttl: opt.duration({
    default: 0,
    description: 'Remove a group not pushed for this long, e.g. "24h"; 0 keeps groups until deleted.',
  }),
  max_groups: opt.integer({
    default: 100_000,
    min: 0,
    description: "Most groups kept; a push that would start one more is refused with 507. 0 for no limit.",
  }),
  persistence_file: opt.string({
    default: "",
    description: "File the groups are kept in across restarts (written atomically); empty keeps them in memory only. A file the reference Pushgateway wrote (its --persistence.file) is imported at start-up, kept beside as <file>.pushgateway-<ms>, and replaced by pushkit's own format.",
  }),
  persistence_interval: opt.duration({
    default: 1000,
    min: 100,
    description: "Longest a change waits before the persistence file is rewritten: every interval, if groups changed, all changes since the last write go into one write (and always at shutdown). A change is on disk within the interval plus one write; a store so large that a write takes more than a quarter of the interval is written every four write durations instead.",
  }),
  enable_utf8_names: opt.boolean({
    default: false,
    description: 'Accept UTF-8 metric and label names in text and OpenMetrics pushes (quoted: {"my.metric","my.label"="v"} 1) and U__-escaped label names in the grouping key (/metrics/job/j/U__my_2e_label/v), as the reference\'s --push.enable-utf8-names. Protobuf pushes carry UTF-8 names either way.',
  }),
  enable_admin_api: opt.boolean({
    default: false,
    description: "Serve PUT <route_prefix>/api/v1/admin/wipe, which deletes every group.",
  }),
  tags: opt.stringMap({
    default: {},
    description: "Static tags added to every point; a body label or grouping label of the same name wins.",
    checkKey: (k) => (LABEL_NAME.test(k) ? undefined : `tag name "${k}" is not a valid label name`),
  }),
  aggregate: aggregateOption,
};

const EXPIRED = "pushkit_pushgateway_groups_expired_total";

export default defineInput({
  name: "pushgateway",
  description: "Prometheus Pushgateway-compatible push endpoint",
  options: pushgatewayOptions,
  create(configured, ctx: InputContext) {
    // The agent's global tags rank below the input's own tags (and both below pushed labels).
    const options = { ...configured, tags: { ...ctx.globalTags, ...configured.tags } };
    let pool: ParsePool | undefined;
    const store = new GroupStore(options, ownNamesOf(ctx.metrics));
    const expired = (ctx.metrics.getSingleMetric(EXPIRED) as Counter | undefined) ?? new Counter({ name: EXPIRED, help: "Groups removed because they were not pushed for group_ttl.", registers: [ctx.metrics] });
    const persistence = options.persistence_file ? new Persistence(path.resolve(options.persistence_file), options.persistence_interval, store, ctx.log) : undefined;
    const groups = new Groups(store, ctx, new Converter(options), ctx.log, { expired: (n) => expired.inc(n) });
    const rules = new AggregateRules(options.aggregate);
    pushRoutes(options, ctx, groups, rules, () => pool);
    apiRoutes(options, ctx, groups, rules, { version: VERSION, startedMs: Date.now(), flags: flags(options) });
    statusPage(options, ctx, groups, rules);
    return {
      async start() {
        await persistence?.load();
        persistence?.start();
        groups.startExpiry(options.group_ttl);
        if (options.parse_workers > 0) pool = new ParsePool(options.parse_workers, workerSetup(options), ctx.log);
      },
      async stop() {
        groups.stopExpiry();
        persistence?.stop();
        await pool?.close();
        pool = undefined;
      },
    };
  },
});

/** The options as the status API shows them (the reference shows its command-line flags). */
function flags(o: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : String(v)]));
}

/**
 * The agent's own metric names, read again at most every few seconds: listing the registry on
 * every push costs more than the rest of a small push, and its names change only when a
 * component registers its metrics, which they do at start.
 */
function ownNamesOf(registry: InputContext["metrics"]): () => ReadonlySet<string> {
  let names = new Set<string>();
  let readAt = -Infinity;
  return () => {
    const now = performance.now();
    if (now - readAt > 5000) {
      readAt = now;
      names = ownNames(registry);
    }
    return names;
  };
}
