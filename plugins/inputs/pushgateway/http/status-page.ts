// The status page at <route_prefix>/: every group with its last push and failure times and
// its families, and a button that deletes the group (a DELETE on the group's push URL, as the
// reference's UI sends). Rendered on the server; the only script is the delete button's.
import { createHash } from "node:crypto";
import type { InputContext } from "../../../../core/plugin.ts";
import type { AggregateRule, AggregateRules } from "../aggregate/rules.ts";
import type { Groups } from "../store/groups.ts";
import type { Group } from "../store/store.ts";

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

const SEP = Buffer.from([0xff]);

function time(ms: number): string {
  return ms === 0 ? "never" : new Date(ms).toISOString();
}

function groupRow(prefix: string, g: Group, rule: AggregateRule | undefined): string {
  const labels = g.labels.map(([n, v]) => `<span class="label">${html(n)}="${html(v)}"</span>`).join(" ");
  const marker = rule ? ` <span class="aggregated" title="${html(rule.summary)}">aggregated by rule #${html(rule.id)}</span>` : "";
  const families = [...g.families.keys()].sort().map((n) => `<li>${html(n)}</li>`).join("");
  const failed = !g.lastPushSuccessful;
  return `<tr class="group${failed ? " failed" : ""}" data-path="${html(groupPath(prefix, g))}">
<td class="labels">${labels}${marker}</td>
<td class="push-time">${time(g.pushTimeMs)}</td>
<td class="failure-time">${time(g.failureTimeMs)}</td>
<td class="families"><details><summary>${g.families.size}</summary><ul>${families}</ul></details></td>
<td><button type="button" class="delete">Delete group</button></td>
</tr>`;
}

export function renderStatusPage(prefix: string, groups: Iterable<Group>, nowMs = Date.now(), ruleOf: (g: Group) => AggregateRule | undefined = () => undefined): string {
  // The reference's order: names and values joined with a byte above any UTF-8 lead byte.
  const sortKey = (g: Group) => Buffer.concat(g.labels.flatMap(([n, v]) => [Buffer.from(n), SEP, Buffer.from(v), SEP]));
  const sorted = [...groups].map((g) => ({ g, k: sortKey(g) })).sort((a, b) => Buffer.compare(a.k, b.k)).map((x) => x.g);
  const rows = sorted.map((g) => groupRow(prefix, g, ruleOf(g))).join("\n");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>pushkit: pushed groups</title>
<style>${STYLE}</style>
</head>
<body>
<h1>Pushed groups</h1>
<p id="summary">${sorted.length} group${sorted.length === 1 ? "" : "s"}, as of ${new Date(nowMs).toISOString()}.</p>
<table id="groups">
<thead><tr><th>Grouping key</th><th>Last push</th><th>Last failed push</th><th>Families</th><th></th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
<script>${SCRIPT}</script>
</body>
</html>
`;
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
  for (const path of [`${o.route_prefix}/`, `${o.route_prefix}/status`]) {
    input.http.route(["GET"], path, (ctx) => {
      ctx.type = "text/html; charset=utf-8";
      ctx.set(PAGE_HEADERS);
      ctx.body = renderStatusPage(o.route_prefix, groups.store.all(), Date.now(), (g) => rules.ruleForGroup(g.labels));
    }, { access: "read" });
  }
}
