// Push routes of the pushgateway input: PUT/POST store a push in its group and hand its points
// on, DELETE removes a group. A push is all or nothing: it is read, parsed, converted and
// checked whole before anything is kept, and any error answers 4xx with nothing ingested.
import type { Context } from "koa";
import { PointBatch } from "../../../../core/batch.ts";
import { MemoryBudget, readBody } from "../../../../core/body.ts";
import { HttpError } from "../../../../core/errors.ts";
import { answerEmpty } from "../../../../core/http.ts";
import { MainThreadQueue } from "../../../../core/main-thread-queue.ts";
import type { InputContext } from "../../../../core/plugin.ts";
import { nowNs } from "../../../../core/point.ts";
import { Converter, type ConvertOptions } from "../../../formats/prometheus/convert.ts";
import { parseGroupingPath, type GroupingKey } from "./grouping.ts";
import { BodyParseError, parseOptions, type MetricFamily, type NameValidation } from "../../../formats/prometheus/model.ts";
import { bodyFormat, type BodyFormat } from "../../../formats/prometheus/mediatypes.ts";
import { parseBody as parseAs } from "../../../formats/prometheus/parse.ts";
import { PushMetrics } from "../metrics.ts";
import type { Groups } from "../store/groups.ts";
import type { Parsed, ParsePool } from "../ingest/parse-pool.ts";
import { GroupFullError, InconsistentPushError } from "../store/store.ts";
import type { PushedFamily } from "../store/pushed-family.ts";
import { labelLength, LimitError, type BodyLimits } from "../../../formats/prometheus/limits.ts";
import { MergeError } from "../aggregate/merge.ts";
import { aggregatedGrouping, type AggregateRules } from "../aggregate/rules.ts";

export interface RouteOptions extends ConvertOptions, BodyLimits {
  route_prefix: string;
  max_body_bytes: number;
  max_decompressed_bytes: number;
  parse_worker_min_bytes: number;
  max_inflight_bytes: number;
  enable_utf8_names: boolean;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function groupingKey(ctx: Context, prefixLength: number, names: NameValidation): GroupingKey {
  const afterJob = ctx.path.slice(prefixLength);
  const key = parseGroupingPath(afterJob, names);
  if (!key) throw new HttpError(404, "404 page not found");
  return key;
}

/** The grouping key's share of the label limits: its labels are on every series of the push. */
function checkGrouping(labels: ReadonlyMap<string, string>, limits: BodyLimits): void {
  if (limits.label_limit > 0 && labels.size > limits.label_limit) {
    throw new LimitError("label_limit", limits.label_limit, `the grouping key has ${labels.size} labels`);
  }
  for (const [name, value] of labels) labelLength(limits, name, value, () => "the grouping key");
}

/**
 * Parsed series held while a push waits for its group's turn and is stored, as the in-flight
 * budget counts them: a rough figure for the objects of one series, so that many pushes of
 * small bodies with many series cannot hold more memory than the budget says.
 */
const PARSED_BYTES_PER_SERIES = 256;

function seriesOf(families: readonly (MetricFamily | PushedFamily)[]): number {
  let n = 0;
  for (const f of families) n += "metrics" in f ? f.metrics.length : f.size;
  return n;
}

/** How a refused push is answered: the errors of the parsers and of the store become statuses here. */
function refusal(e: unknown): unknown {
  if (e instanceof BodyParseError) return new HttpError(400, e.message);
  if (e instanceof InconsistentPushError) return new HttpError(400, e.message);
  if (e instanceof MergeError) return new HttpError(400, `pushed metrics cannot be added to the aggregated group: ${e.message}`);
  if (e instanceof GroupFullError) return new HttpError(507, e.message);
  return e;
}

/**
 * Registers the push routes. `pool()` gives the parse workers when there are any: bodies of at
 * least parse_worker_min_bytes go there, smaller ones are cheaper to parse right here. Writes
 * to one group are applied in the order their requests arrived, whatever each takes to parse.
 */
export function pushRoutes(o: RouteOptions, input: InputContext, groups: Groups, rules: AggregateRules, pool: () => ParsePool | undefined): void {
  const base = `${o.route_prefix}/metrics/job`;
  const pattern = new RegExp(`^${escapeRegExp(base)}(?:@base64)?/`);
  const converter = new Converter(o);
  const parsing = parseOptions(o);
  const budget = new MemoryBudget(o.max_inflight_bytes, "max_inflight_bytes");
  const queue = new MainThreadQueue();

  const metrics = new PushMetrics(input.metrics, rules.rules.map((r) => r.id));
  const countRefusal = (e: unknown, format: BodyFormat | undefined) => {
    if (e instanceof LimitError || e instanceof GroupFullError) metrics.limited.add(1, e.limit);
    else if (e instanceof BodyParseError && format !== undefined) metrics.parseErrors.add(1, format);
  };
  // Read once: the level is set at start, and a push should not build a log record it drops.
  const debug = input.log.isLevelEnabled("debug");
  const label = `${base}/{grouping}`;

  input.http.route(
    ["PUT", "POST"],
    pattern,
    async (ctx) => {
      let format: BodyFormat | undefined;
      try {
        const key = groupingKey(ctx, base.length, parsing.names);
        checkGrouping(key.labels, o);
        // A push of an aggregated job goes to the group without the rule's dropped labels, in
        // that group's line: merges into one group are applied in the order they arrived.
        const rule = rules.size > 0 ? rules.ruleFor(key.job) : undefined;
        const target = rule ? aggregatedGrouping(key.labels, rule) : key.labels;
        const turn = groups.turn(target);
        // Held until the push is stored: the body, then what was parsed from it, count
        // against max_inflight_bytes while the push waits for its group's turn.
        const reservation = budget.reserve(ctx.req);
        try {
          let parsed: Parsed;
          const body = await readBody(ctx.req, { maxBodyBytes: o.max_body_bytes, maxDecompressedBytes: o.max_decompressed_bytes, reservation });
          const received = nowNs();
          format = bodyFormat(ctx.req.headers["content-type"], body);
          const workers = pool();
          const offThread = !rule && workers?.available && body.length >= o.parse_worker_min_bytes;
          // Parsing and storing take the main thread: in turns, so that requests that arrived together do not hold it all at once.
          if (!offThread) await queue.enter();
          if (rule) {
            // Its points are the merged values, made once the merge is done.
            parsed = { families: parseAs(body, format, parsing), batch: PointBatch.fromLineProtocol([], 0) };
          } else if (offThread) {
            parsed = await workers!.run(body, format, key.labels, received, true);
            await queue.enter();
          } else {
            const families = parseAs(body, format, parsing);
            // Straight into line protocol, as the workers do: no point objects for sinks that write it as is.
            const { chunks, lines } = converter.lineProtocol(families, key.labels, received);
            parsed = { families, batch: PointBatch.fromLineProtocol(chunks, lines) };
          }
          reservation.take(seriesOf(parsed.families) * PARSED_BYTES_PER_SERIES);
          if (turn.waits) await turn.ready;
          let points = parsed.batch.size;
          if (rule) points = await groups.merge(rule, target, parsed.families as MetricFamily[]);
          else await groups.push(ctx.method === "PUT", key.labels, parsed.families, parsed.batch, received);
          if (rule) metrics.merges.add(1, rule.id);
          metrics.points.add(points, format);
          if (debug) input.log.debug({ method: ctx.method, job: key.job, points, ...(rule ? { aggregateRule: rule.id } : {}) }, "push accepted");
        } finally {
          reservation.release();
          turn.done();
        }
        answerEmpty(ctx, 200);
        metrics.pushes.add(1, ctx.method, "200");
      } catch (e) {
        countRefusal(e, format);
        const answer = refusal(e);
        metrics.pushes.add(1, ctx.method, String(answer instanceof HttpError ? answer.status : 500));
        throw answer;
      }
    },
    { access: "push", label },
  );

  input.http.route(
    ["DELETE"],
    pattern,
    async (ctx) => {
      const key = groupingKey(ctx, base.length, parsing.names);
      ctx.req.resume();
      const rule = rules.size > 0 ? rules.ruleFor(key.job) : undefined;
      const target = rule ? aggregatedGrouping(key.labels, rule) : key.labels;
      const turn = groups.turn(target);
      try {
        if (turn.waits) await turn.ready;
        await groups.whenSettled(() => groups.delete(target));
      } finally {
        turn.done();
      }
      answerEmpty(ctx, 202);
      metrics.pushes.add(1, "DELETE", "202");
    },
    { access: "push", label },
  );
}
