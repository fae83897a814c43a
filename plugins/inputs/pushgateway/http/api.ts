// The reference's read side under the route prefix: the scrape endpoint, the JSON API
// (/api/v1/metrics, /api/v1/status, the admin wipe) and the health endpoints.
import type { Context } from "koa";
import type { InputContext } from "../../../../core/plugin.ts";
import { contentType, negotiate } from "../../../formats/prometheus/mediatypes.ts";
import type { Groups } from "../store/groups.ts";
import { ownFamilies } from "../own-metrics.ts";
import type { AggregateRules } from "../aggregate/rules.ts";
import { ScrapeOrder } from "../store/scrape-order.ts";
import { snapshot } from "../store/snapshot.ts";
import { apiMetrics, goJson } from "./api-json.ts";
import { exposition, WrittenSources } from "./exposition.ts";
import { streamBody } from "./stream-body.ts";

export { goJson, GoMap, jsonGroup, rfc3339 } from "./api-json.ts";

export interface ApiOptions {
  route_prefix: string;
  enable_admin_api: boolean;
}

const NO_CACHE = "no-cache, no-store, must-revalidate";

function respond(ctx: Context, data: unknown): void {
  ctx.set("Cache-Control", NO_CACHE);
  ctx.type = "application/json";
  ctx.body = goJson({ status: "success", data });
}

export interface StatusInfo {
  version: string;
  startedMs: number;
  /** The input's effective options, shown as the reference shows its flags. */
  flags: Record<string, string>;
}

export function apiRoutes(o: ApiOptions, input: InputContext, groups: Groups, rules: AggregateRules, status: StatusInfo): void {
  const p = o.route_prefix;

  // Both answers are written in slices from a snapshot of the store taken when the request
  // came, and sent as the client takes them (see stream-body.ts).
  const order = new ScrapeOrder(rules.size > 0 ? (g) => rules.ruleForGroup(g.labels)?.id : undefined);
  const written = new WrittenSources();
  input.http.route(["GET", "HEAD"], `${p}/metrics`, async (ctx) => {
    const scrape = negotiate(ctx.get("Accept") || undefined);
    const own = await ownFamilies(input.metrics);
    const states = snapshot(groups.store.all());
    ctx.type = contentType(scrape);
    streamBody(ctx, async function* (slicer) {
      yield* exposition(await order.gather(states, own, slicer), scrape, written, slicer);
    }, input.log);
  }, { access: "read" });

  // The JSON API is what dashboards are built on: pages of the origins the agent lists may read it.
  input.http.route(["GET"], `${p}/api/v1/metrics`, (ctx) => {
    const states = snapshot(groups.store.all());
    ctx.set("Cache-Control", NO_CACHE);
    ctx.type = "application/json";
    streamBody(ctx, (slicer) => apiMetrics(states, (g) => rules.ruleForGroup(g.labels), slicer), input.log);
  }, { access: "read", crossOrigin: true });

  input.http.route(["GET"], `${p}/api/v1/status`, (ctx) => {
    respond(ctx, {
      build_information: { version: status.version, revision: "", branch: "", buildUser: "", buildDate: "", goVersion: process.version },
      flags: status.flags,
      start_time: new Date(status.startedMs).toISOString(),
    });
  }, { access: "read", crossOrigin: true });

  // The admin API exists only when enabled: otherwise its path is as unknown as any other.
  if (o.enable_admin_api) {
    input.http.route(["PUT"], `${p}/api/v1/admin/wipe`, async (ctx) => {
      const n = await groups.whenSettled(() => groups.wipe());
      input.log.info({ groups: n }, "admin API: every group wiped");
      ctx.status = 202;
      ctx.body = "";
    }, { access: "admin" });
  }

  // The host serves its health endpoints at the root; a prefixed reference serves them under it.
  if (p !== "") {
    for (const path of [`${p}/-/healthy`, `${p}/-/ready`]) {
      input.http.route(["GET"], path, (ctx) => {
        ctx.type = "text/plain; charset=utf-8";
        ctx.body = "OK";
      }, { access: "public" });
    }
  }
}
