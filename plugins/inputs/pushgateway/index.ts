// The pushgateway input: an endpoint that speaks the Prometheus Pushgateway push protocol and
// turns every pushed metric family into points.
import { opt } from "../../../core/options.ts";
import { defineInput, type InputContext } from "../../../core/plugin.ts";
import type { ConvertOptions } from "./convert.ts";
import { ParsePool } from "./parse-pool.ts";
import { pushRoutes } from "./routes.ts";

/** What a parse worker needs to convert like the main thread: plain data, it is copied to the worker. */
function convertOptions(o: ConvertOptions): ConvertOptions {
  const { measurement_name, job_as_measurement, keep_exist_metric_name, honor_timestamps, tags } = o;
  return { measurement_name, job_as_measurement, keep_exist_metric_name, honor_timestamps, tags };
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

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
    default: 256 * 1024 * 1024,
    min: 1,
    description: "Bytes of push bodies (as received and decompressed) held at once across requests; a push that would go over is refused with 503 and Retry-After. One push alone is always let through.",
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
  tags: opt.stringMap({
    default: {},
    description: "Static tags added to every point; a body label or grouping label of the same name wins.",
    checkKey: (k) => (LABEL_NAME.test(k) ? undefined : `tag name "${k}" is not a valid label name`),
  }),
};

export default defineInput({
  name: "pushgateway",
  description: "Prometheus Pushgateway-compatible push endpoint",
  options: pushgatewayOptions,
  create(options, ctx: InputContext) {
    let pool: ParsePool | undefined;
    pushRoutes(options, ctx, () => pool);
    return {
      async start() {
        if (options.parse_workers > 0) pool = new ParsePool(options.parse_workers, convertOptions(options), ctx.log);
      },
      async stop() {
        await pool?.close();
        pool = undefined;
      },
    };
  },
});
