// The status page at <route_prefix>/: every group with its last push and failure times and
// its families, and a button that deletes the group (a DELETE on the group's push URL, as the
// reference's UI sends). Rendered on the server; the only script is the delete button's.
import { createHash } from "node:crypto";
import type { InputContext } from "../../../../core/plugin.ts";
import type { AggregateRule, AggregateRules } from "../aggregate/rules.ts";
import type { Groups } from "../store/groups.ts";
import { sortInSlices, type Slicer } from "../store/slices.ts";
import { snapshot, type GroupState } from "../store/snapshot.ts";
import type { Group } from "../store/store.ts";
import { Chunks } from "./chunks.ts";
import { streamBody } from "./stream-body.ts";

function html(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

function base64url(s: string): string {
  return s === "" ? "=" : Buffer.from(s, "utf8").toString("base64url");
}

/** The group's push URL with every value base64-encoded, so that "/" or an empty value survive. */
export function groupPath(prefix: string, g: Group): string {
  const job = g.labels.find(([n]) => n === "job")?.[1] ?? "";
  const rest = g.labels.filter(([n]) => n !== "job").map(([n, v]) => `/${n}@base64/${base64url(v)}`);
  return `${prefix}/metrics/job@base64/${base64url(job)}${rest.join("")}`;
}

// The page's only style and script, allowed by their hashes: the policy lets nothing else run,
// load or frame the page, and its fetch go only to this server.
const STYLE = `
body { font-family: system-ui, sans-serif; margin: 2em; }
table { border-collapse: collapse; }
th, td { border-bottom: 1px solid #ddd; padding: .4em .8em; text-align: left; vertical-align: top; }
td.push-time, td.failure-time, button { white-space: nowrap; }
.label { font-family: monospace; }
tr.failed td.failure-time { color: #b00; font-weight: bold; }
.aggregated { background: #e8f0fe; border-radius: .3em; padding: 0 .4em; font-size: 90%; }
`;
const SCRIPT = `
for (const button of document.querySelectorAll("button.delete")) {
  button.addEventListener("click", async () => {
    const row = button.closest("tr");
    button.disabled = true;
    const res = await fetch(row.dataset.path, { method: "DELETE" });
    if (res.status === 202) location.reload();
    else { button.disabled = false; alert("delete failed: " + res.status + " " + (await res.text())); }
  });
}
`;

function sha256(s: string): string {
  return `'sha256-${createHash("sha256").update(s, "utf8").digest("base64")}'`;
}

const PAGE_HEADERS = {
  "Content-Security-Policy": `default-src 'none'; style-src ${sha256(STYLE)}; script-src ${sha256(SCRIPT)}; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
  "X-Frame-Options": "DENY",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-store",
};

function time(ms: number): string {
  return ms === 0 ? "never" : new Date(ms).toISOString();
}

/** What a row shows of a group: the group itself, or its state in a snapshot. */
interface RowView {
  readonly labels: readonly (readonly [string, string])[];
  readonly families: Iterable<{ readonly name: string }>;
  readonly pushTimeMs: number;
  readonly failureTimeMs: number;
  readonly lastPushSuccessful: boolean;
}

function groupRow(prefix: string, g: Group, v: RowView, rule: AggregateRule | undefined): string {
  const labels = v.labels.map(([n, val]) => `<span class="label">${html(n)}="${html(val)}"</span>`).join(" ");
  const marker = rule ? ` <span class="aggregated" title="${html(rule.summary)}">aggregated by rule #${html(rule.id)}</span>` : "";
  const names = Array.from(v.families, (f) => f.name).sort();
  const families = names.map((n) => `<li>${html(n)}</li>`).join("");
  const failed = !v.lastPushSuccessful;
  return `<tr class="group${failed ? " failed" : ""}" data-path="${html(groupPath(prefix, g))}">
<td class="labels">${labels}${marker}</td>
<td class="push-time">${time(v.pushTimeMs)}</td>
<td class="failure-time">${time(v.failureTimeMs)}</td>
<td class="families"><details><summary>${names.length}</summary><ul>${families}</ul></details></td>
<td><button type="button" class="delete">Delete group</button></td>
</tr>`;
}

function pageHead(count: number, nowMs: number): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>pushkit: pushed groups</title>
<style>${STYLE}</style>
</head>
<body>
<h1>Pushed groups</h1>
<p id="summary">${count} group${count === 1 ? "" : "s"}, as of ${new Date(nowMs).toISOString()}.</p>
<table id="groups">
<thead><tr><th>Grouping key</th><th>Last push</th><th>Last failed push</th><th>Families</th><th></th></tr></thead>
<tbody>
`;
}

const PAGE_TAIL = `
</tbody>
</table>
<script>${SCRIPT}</script>
</body>
</html>
`;

/**
 * The reference's order of groups: names and values joined with a byte above any UTF-8 lead
 * byte. As a latin1 string (one character per byte) it compares in byte order with `<`.
 */
function sortKey(g: Group): string {
  return Buffer.concat(g.labels.flatMap(([n, v]) => [Buffer.from(n), SEP, Buffer.from(v), SEP])).toString("latin1");
}

const SEP = Buffer.from([0xff]);

export function renderStatusPage(prefix: string, groups: Iterable<Group>, nowMs = Date.now(), ruleOf: (g: Group) => AggregateRule | undefined = () => undefined): string {
  const sorted = [...groups].map((g) => ({ g, k: sortKey(g) })).sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0)).map((x) => x.g);
  const rows = sorted.map((g) => groupRow(prefix, g, { ...g, families: g.families.values() }, ruleOf(g))).join("\n");
  return pageHead(sorted.length, nowMs) + rows + PAGE_TAIL;
}

/** A snapshot's groups in the page's order, sorted again only when groups came or went. */
export class GroupOrder {
  private readonly keys = new WeakMap<Group, string>();
  /** The groups of the last snapshot, in the store's order, and the page's order of them. */
  private groups: readonly Group[] = [];
  private order: Int32Array = new Int32Array(0);

  async sorted(states: readonly GroupState[], slicer: Slicer): Promise<GroupState[]> {
    // A snapshot lists the groups in the store's order: the same groups are at the same places.
    let same = states.length === this.groups.length;
    for (let i = 0; same && i < states.length; i++) same = states[i].group === this.groups[i];
    if (!same) {
      const keys: string[] = [];
      for (const s of states) {
        let k = this.keys.get(s.group);
        if (k === undefined) this.keys.set(s.group, (k = sortKey(s.group)));
        keys.push(k);
        // A new group's key is some microseconds of work.
        if (slicer.due(4)) await slicer.pause();
      }
      this.order = await sortInSlices(states.length, (a, b) => (keys[a] < keys[b] ? -1 : keys[a] > keys[b] ? 1 : 0), slicer);
      this.groups = states.map((s) => s.group);
    }
    return Array.from(this.order, (i) => states[i]);
  }
}

/** The page as renderStatusPage() writes it, row by row in slices, from a snapshot of the store. */
export async function* statusPageStream(prefix: string, states: readonly GroupState[], nowMs: number, ruleOf: (g: Group) => AggregateRule | undefined, order: GroupOrder, slicer: Slicer): AsyncGenerator<Buffer> {
  const out = new Chunks();
  out.string(pageHead(states.length, nowMs));
  let first = true;
  for (const s of await order.sorted(states, slicer)) {
    const view: RowView = { labels: s.group.labels, families: s.families, pushTimeMs: s.pushTimeMs, failureTimeMs: s.failureTimeMs, lastPushSuccessful: s.lastPushSuccessful };
    out.string((first ? "" : "\n") + groupRow(prefix, s.group, view, ruleOf(s.group)));
    first = false;
    if (out.ready) yield* out.take();
    if (slicer.due()) await slicer.pause();
  }
  out.string(PAGE_TAIL);
  yield* out.end();
}

export function statusPage(o: { route_prefix: string }, input: InputContext, groups: Groups, rules: AggregateRules): void {
  // As the reference's router does: the prefix alone redirects to the page.
  if (o.route_prefix !== "") {
    input.http.route(["GET"], o.route_prefix, (ctx, next) => {
      // The router also matches the path with a trailing slash: that one is the page itself.
      if (ctx.path !== o.route_prefix) return next();
      ctx.status = 301;
      ctx.redirect(`${o.route_prefix}/`);
    }, { access: "read" });
  }
  const order = new GroupOrder();
  const ruleOf = (g: Group) => rules.ruleForGroup(g.labels);
  for (const path of [`${o.route_prefix}/`, `${o.route_prefix}/status`]) {
    input.http.route(["GET"], path, (ctx) => {
      // Written in slices from a snapshot, as the scrape (see api.ts).
      const states = snapshot(groups.store.all());
      const nowMs = Date.now();
      ctx.type = "text/html; charset=utf-8";
      ctx.set(PAGE_HEADERS);
      streamBody(ctx, (slicer) => statusPageStream(o.route_prefix, states, nowMs, ruleOf, order, slicer), input.log);
    }, { access: "read" });
  }
}
