// The grouping key of a push path (parseGroupingPath) as a fuzz target:
//   valid    a key written in any of the protocol's spellings reads back as that key
//   mutated  any path (made of the syntax's tokens, or a valid one mutated) gives a sound key,
//            no key (the router's 404), or an HttpError 4xx with a message
import fc from "fast-check";
import { HttpError } from "../../../core/errors.ts";
import { parseGroupingPath, type GroupingKey } from "../../../plugins/inputs/pushgateway/http/grouping.ts";
import type { NameValidation } from "../../../plugins/formats/prometheus/model.ts";
import { anyPath, groupingCase } from "../gen/grouping-path.ts";
import { LEGACY_LABEL, wellFormed } from "../gen/names.ts";
import { apply, mutation } from "../gen/mutate.ts";
import { probe, SlowInput, timed } from "../probe.ts";
import type { FuzzTarget } from "./target.ts";

function parse(path: string, names: NameValidation): GroupingKey | undefined | HttpError {
  probe.input(path);
  try {
    return timed("parsing a grouping path", () => parseGroupingPath(path, names));
  } catch (e) {
    if (e instanceof SlowInput) throw e;
    if (!(e instanceof HttpError)) throw new Error(`parseGroupingPath threw ${(e as Error)?.name}, not an HttpError: ${(e as Error)?.stack ?? e}`);
    if (e.status < 400 || e.status > 499 || e.message.trim() === "") throw new Error(`parseGroupingPath answered ${e.status} ${JSON.stringify(e.message)}`);
    return e;
  }
}

function unsound(key: GroupingKey, names: NameValidation): string | undefined {
  if (key.job === "" || !wellFormed(key.job)) return `job ${JSON.stringify(key.job)}`;
  if (key.labels.get("job") !== key.job) return "the labels do not hold the job";
  for (const [n, v] of key.labels) {
    if (n === "" || !wellFormed(n) || n.startsWith("__")) return `label name ${JSON.stringify(n)}`;
    if (names === "legacy" && !LEGACY_LABEL.test(n)) return `label name ${JSON.stringify(n)} is not legacy`;
    if (!wellFormed(v)) return `value of ${JSON.stringify(n)} is not well-formed`;
  }
  return undefined;
}

const mutatedPath = fc.tuple(groupingCase(), fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([g, ms]) => {
  let b: Buffer = Buffer.from(g.path, "latin1");
  for (const m of ms) b = apply(b, m).subarray(0, 4096);
  return b.toString("latin1");
});

export const groupingTarget: FuzzTarget = {
  name: "grouping",
  description: "the grouping key of a push path (parseGroupingPath)",
  async open() {
    return {
      properties: [
        {
          name: "valid",
          share: 0.3,
          property: fc.property(groupingCase(), (g) => {
            const names = g.utf8 ? "utf8" : "legacy";
            const key = parse(g.path, names);
            if (!key || key instanceof HttpError) throw new Error(`path ${JSON.stringify(g.path)} was refused: ${key?.message ?? "no key (404)"}`);
            const want = new Map([...g.labels, ["job", g.job]]);
            const got = [...key.labels].sort();
            if (key.job !== g.job || JSON.stringify(got) !== JSON.stringify([...want].sort())) {
              throw new Error(`path ${JSON.stringify(g.path)} read as job ${JSON.stringify(key.job)} ${JSON.stringify(got)}, want ${JSON.stringify([...want].sort())}`);
            }
          }),
        },
        {
          name: "mutated",
          share: 0.7,
          property: fc.property(fc.oneof(anyPath, mutatedPath), fc.boolean(), (path, utf8) => {
            const names = utf8 ? "utf8" : "legacy";
            const key = parse(path, names);
            if (!key || key instanceof HttpError) return;
            const problem = unsound(key, names);
            if (problem) throw new Error(`path ${JSON.stringify(path)} gave an unsound key: ${problem}`);
          }),
        },
      ],
      close: async () => {},
    };
  },
};
