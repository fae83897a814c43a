// The push endpoint of a real agent (a child process on an ephemeral port, as the integration
// tests start it) as a fuzz target:
//   push    any push request is answered 200/202, or 4xx with a message; never 5xx, never
//           later than the timeout
//   scrape  the same, and then the agent is scraped in all three formats and each exposition
//           must parse: what the agent accepted, it must be able to serve
import fc from "fast-check";
import { parseBody } from "../../../plugins/formats/prometheus/parse.ts";
import { startTestAgent, type RunningTestAgent } from "../../support/agent.ts";
import { PROTOBUF_CONTENT_TYPE } from "../../support/protobuf.ts";
import { pushRequest, type PushRequest } from "../gen/push-request.ts";
import { mutated } from "../gen/mutate.ts";
import { validBody } from "./parsers.ts";
import { probe } from "../probe.ts";
import type { FuzzTarget } from "./target.ts";

/** Longest wait for one answer: far beyond what a push of these sizes takes. */
const ANSWER_TIMEOUT_MS = 10_000;

const SCRAPES = [
  { format: "text", accept: "text/plain;version=0.0.4" },
  { format: "openmetrics", accept: "application/openmetrics-text;version=1.0.0" },
  { format: "protobuf", accept: PROTOBUF_CONTENT_TYPE },
] as const;

/** The conf of the fuzzed agent: defaults, except that bodies from 2 KiB go to the parse workers, so both paths are fuzzed. */
export const PUSHGATEWAY_CONF = `[[inputs.pushgateway]]
parse_workers = 1
parse_worker_min_bytes = "2KiB"
`;

async function send(agent: RunningTestAgent, r: PushRequest): Promise<void> {
  probe.input(JSON.stringify({ ...r, body: r.body.toString("base64") }));
  let res: Response;
  try {
    res = await fetch(agent.url + r.path, { method: r.method, headers: r.headers, body: r.method === "DELETE" ? undefined : new Uint8Array(r.body), signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) });
  } catch (e) {
    throw new Error(`${r.method} ${r.path} got no answer: ${(e as Error).message}${agent.child.exitCode !== null ? ` (agent exited with ${agent.child.exitCode})` : ""}`);
  }
  const text = await res.text();
  if (res.status === 200 || res.status === 202) return;
  if (res.status >= 400 && res.status < 500 && text.trim() !== "") return;
  throw new Error(`${r.method} ${r.path} (${JSON.stringify(r.headers)}, ${r.body.length} bytes) answered ${res.status} ${JSON.stringify(text.slice(0, 500))}`);
}

/** Every exposition format the agent serves must parse, whatever it accepted. */
export async function scrape(agent: RunningTestAgent, formats: readonly string[] = SCRAPES.map((s) => s.format)): Promise<void> {
  for (const s of SCRAPES) {
    if (!formats.includes(s.format)) continue;
    const res = await fetch(agent.url + "/metrics", { headers: { accept: s.accept }, signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) });
    const body = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200) throw new Error(`GET /metrics as ${s.format} answered ${res.status}`);
    try {
      parseBody(body, s.format, { names: "utf8" });
    } catch (e) {
      const m = /line (\d+)/.exec((e as Error).message);
      const line = m ? body.toString().split("\n")[Number(m[1]) - 1] : undefined;
      throw new Error(`GET /metrics as ${s.format} serves what its parser refuses: ${(e as Error).message}${line !== undefined ? `\nline: ${JSON.stringify(line)}` : ""}`);
    }
  }
}

export const httpTarget: FuzzTarget = {
  name: "http",
  description: "push requests to a running agent (PUT/POST/DELETE /metrics/job/...)",
  async open() {
    const agent = await startTestAgent({ conf: { "pushgateway.conf": PUSHGATEWAY_CONF } });
    if (agent.child.pid !== undefined) probe.spawned(agent.child.pid);
    // The scrape property's own agent: what the push property stores (UTF-8 names) is not for it.
    const served = await startTestAgent({ conf: { "pushgateway.conf": PUSHGATEWAY_CONF } });
    if (served.child.pid !== undefined) probe.spawned(served.child.pid);
    const formats = ["text", "openmetrics", "protobuf"] as const;
    const valid = fc.constantFrom(...formats).chain((f) => fc.boolean().chain((utf8) => validBody(f, utf8))).map((v) => v.body);
    const pool = fc.sample(valid, { seed: 5, numRuns: 300 });
    const bodies = fc.oneof(valid, mutated(fc.integer({ min: 0, max: pool.length - 1 }).map((i) => pool[i])));
    // What is served must parse. Not yet for UTF-8 names, which escaping can turn into a name
    // another family has, or into a reserved "__" label name (open: see the README's known
    // limits); so the scrape property pushes legacy names, valid or mutated text.
    const legacy = fc.constantFrom(...formats).chain((f) => validBody(f, false)).map((v) => v.body);
    const textPool = fc.sample(fc.constantFrom("text", "openmetrics" as const).chain((f) => validBody(f, false)).map((v) => v.body), { seed: 6, numRuns: 300 });
    const servable = fc.oneof(legacy, mutated(fc.integer({ min: 0, max: textPool.length - 1 }).map((i) => textPool[i])));
    return {
      properties: [
        { name: "push", share: 0.9, property: fc.asyncProperty(pushRequest(bodies), (r) => send(agent, r)) },
        {
          name: "scrape",
          share: 0.1,
          property: fc.asyncProperty(pushRequest(servable), async (r) => {
            await send(served, r);
            // Text 0.0.4 takes what OpenMetrics forbids (buckets in any order, counts that
            // disagree...), which the OpenMetrics writer does not all mend yet (open): text and
            // protobuf scrapes are checked here, OpenMetrics by the regression tests it mends.
            await scrape(served, ["text", "protobuf"]);
          }),
        },
      ],
      async close() {
        await Promise.all([agent.stop(), served.stop()]);
        agent.cleanup();
        served.cleanup();
      },
    };
  },
};
