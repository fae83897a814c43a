// Push routes of the pushgateway input: PUT/POST store a push in its group and hand its points
// on, DELETE removes a group. A push is all or nothing: it is read, parsed, converted and
// checked whole before anything is kept, and any error answers 4xx with nothing ingested.
import type { Context } from "koa";
import { PointBatch } from "../../../../core/batch.ts";
import { MemoryBudget, readBody } from "../../../../core/body.ts";
import { HttpError } from "../../../../core/errors.ts";
import { answerEmpty } from "../../../../core/http.ts";
import type { InputContext } from "../../../../core/plugin.ts";
import { nowNs } from "../../../../core/point.ts";
import { Converter, type ConvertOptions } from "../../../formats/prometheus/convert.ts";
import { parseGroupingPath, type GroupingKey } from "./grouping.ts";
import { BodyParseError, parseOptions, type MetricFamily, type NameValidation, type ParseOptions } from "../../../formats/prometheus/model.ts";
import { bodyFormat, type BodyFormat } from "../../../formats/prometheus/mediatypes.ts";
import { parseBody as parseAs } from "../../../formats/prometheus/parse.ts";
import { PushMetrics } from "../metrics.ts";
import type { Groups } from "../store/groups.ts";
import type { Parsed, ParsePool } from "../ingest/parse-pool.ts";
import { GroupFullError, InconsistentPushError } from "../store/store.ts";
import { MergeError } from "../aggregate/merge.ts";
import { aggregatedGrouping, type AggregateRules } from "../aggregate/rules.ts";

export interface RouteOptions extends ConvertOptions {
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

export function parseBody(body: Buffer, format: BodyFormat, options: ParseOptions = {}): MetricFamily[] {
  try {
    return parseAs(body, format, options);
  } catch (e) {
    if (e instanceof BodyParseError) throw new HttpError(400, e.message);
    throw e;
  }
}

/** How a refusal of the store is answered. */
function storeError(e: unknown): unknown {
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

  const metrics = new PushMetrics(input.metrics, rules.rules.map((r) => r.id));
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
        // A push of an aggregated job goes to the group without the rule's dropped labels, in
        // that group's line: merges into one group are applied in the order they arrived.
        const rule = rules.size > 0 ? rules.ruleFor(key.job) : undefined;
        const target = rule ? aggregatedGrouping(key.labels, rule) : key.labels;
        const turn = groups.turn(target);
        try {
          const reservation = budget.reserve();
          let parsed: Parsed;
          let received: bigint;
          try {
            const body = await readBody(ctx.req, { maxBodyBytes: o.max_body_bytes, maxDecompressedBytes: o.max_decompressed_bytes, reservation });
            received = nowNs();
            format = bodyFormat(ctx.req.headers["content-type"], body);
            const workers = pool();
            if (rule) {
              // Its points are the merged values, made once the merge is done.
              parsed = { families: parseBody(body, format, parsing), batch: PointBatch.fromLineProtocol([], 0) };
            } else if (workers?.available && body.length >= o.parse_worker_min_bytes) {
              parsed = await workers.run(body, format, key.labels, received, true);
            } else {
              const families = parseBody(body, format, parsing);
              // Straight into line protocol, as the workers do: no point objects for sinks that write it as is.
              const { chunks, lines } = converter.lineProtocol(families, key.labels, received);
              parsed = { families, batch: PointBatch.fromLineProtocol(chunks, lines) };
            }
          } catch (e) {
            if (format !== undefined && e instanceof HttpError && e.status === 400) metrics.parseErrors.add(1, format);
            throw e;
          } finally {
            reservation.release();
          }
          if (turn.waits) await turn.ready;
          let points = parsed.batch.size;
          try {
            if (rule) points = await groups.merge(rule, target, parsed.families as MetricFamily[]);
            else await groups.push(ctx.method === "PUT", key.labels, parsed.families, parsed.batch, received);
          } catch (e) {
            throw storeError(e);
          }
          if (rule) metrics.merges.add(1, rule.id);
          metrics.points.add(points, format);
          if (debug) input.log.debug({ method: ctx.method, job: key.job, points, ...(rule ? { aggregateRule: rule.id } : {}) }, "push accepted");
        } finally {
          turn.done();
        }
        answerEmpty(ctx, 200);
        metrics.pushes.add(1, ctx.method, "200");
      } catch (e) {
        metrics.pushes.add(1, ctx.method, String(e instanceof HttpError ? e.status : 500));
        throw e;
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
        groups.delete(target);
      } finally {
        turn.done();
      }
      answerEmpty(ctx, 202);
      metrics.pushes.add(1, "DELETE", "202");
    },
    { access: "push", label },
  );
}
