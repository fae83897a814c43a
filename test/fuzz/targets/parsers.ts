// The three push parsers (text 0.0.4, OpenMetrics 1.0, delimited protobuf) as fuzz targets:
//   valid      a generated valid body (written by the generators, not write.ts) parses to
//              exactly the families it was generated from
//   written    the same families written by write.ts read back the same
//   mutated    a mutated body (of the corpus or generated, of any format) parses to sound
//              families or is refused with a BodyParseError, in bounded time, under any names
//              mode and limits
//   roundtrip  what a parser accepts of mutated bodies, write.ts writes so that it reads back
//   raw        (protobuf) schema-valid messages with bad content: sound families or a refusal
import fc from "fast-check";
import type { BodyLimits } from "../../../plugins/formats/prometheus/limits.ts";
import type { ParseOptions } from "../../../plugins/formats/prometheus/model.ts";
import { parseBody } from "../../../plugins/formats/prometheus/parse.ts";
import { difference } from "../gen/canon.ts";
import { corpus } from "../gen/corpus.ts";
import { families, type Format, type GenFamily } from "../gen/model.ts";
import { mutated } from "../gen/mutate.ts";
import { openMetricsBody } from "../gen/openmetrics-body.ts";
import { protobufBody } from "../gen/protobuf-body.ts";
import { rawProtobufBody } from "../gen/protobuf-raw.ts";
import { textBody } from "../gen/text-body.ts";
import { checkBody, checkRoundTrip, parseOrRefuse } from "./parse-check.ts";
import type { FuzzTarget } from "./target.ts";

const FORMATS: Format[] = ["text", "openmetrics", "protobuf"];

/** A generated valid body of `format` and the families it must parse to. */
export function validBody(format: Format, utf8: boolean): fc.Arbitrary<{ body: Buffer; gen: GenFamily[]; want: GenFamily["family"][]; utf8: boolean }> {
  return fc.tuple(families({ format, utf8 }), fc.integer()).map(([gen, seed]) => {
    if (format === "text") {
      const { body, families: want } = textBody(gen, seed);
      return { body, gen, want, utf8 };
    }
    const want = gen.map((g) => g.family);
    return { body: format === "openmetrics" ? openMetricsBody(gen, seed) : protobufBody(want, seed), gen, want, utf8 };
  });
}

const anyValid = (format: Format) => fc.boolean().chain((utf8) => validBody(format, utf8));

/** Seeds for mutation: the corpus of the format, and generated bodies of every format (fixed, so each input is cheap). */
function seedPool(format: Format): Buffer[] {
  const pool = [...corpus()[format]];
  for (const f of FORMATS) {
    const n = f === format ? 200 : 40;
    for (const v of fc.sample(anyValid(f), { seed: 20240601 + FORMATS.indexOf(f), numRuns: n })) pool.push(v.body);
  }
  if (format === "protobuf") pool.push(...fc.sample(rawProtobufBody, { seed: 7, numRuns: 200 }));
  return pool;
}

const limits: fc.Arbitrary<BodyLimits> = fc.record({
  sample_limit: fc.integer({ min: 0, max: 6 }),
  label_limit: fc.integer({ min: 0, max: 4 }),
  label_name_length_limit: fc.integer({ min: 0, max: 10 }),
  label_value_length_limit: fc.integer({ min: 0, max: 10 }),
});

export const parseOptions: fc.Arbitrary<ParseOptions> = fc
  .record({ utf8: fc.boolean(), limits: fc.option(limits, { nil: undefined, freq: 3 }) })
  .map(({ utf8, limits }) => ({ names: utf8 ? "utf8" : "legacy", ...(limits ? { limits } : {}) }));

export function parserTarget(format: Format): FuzzTarget {
  return {
    name: format,
    description: `the ${format} push parser (parseBody)`,
    async open() {
      const pool = seedPool(format);
      const seeds = fc.integer({ min: 0, max: pool.length - 1 }).map((i) => pool[i]);
      const mutations = format === "protobuf" ? fc.oneof(mutated(seeds), mutated(rawProtobufBody, 3)) : mutated(seeds);
      const properties = [
        {
          name: "valid",
          share: 0.15,
          property: fc.property(anyValid(format), ({ body, want, utf8 }) => {
            const got = parseOrRefuse(body, format, { names: utf8 ? "utf8" : "legacy" });
            if (!got) throw new Error(`a valid ${format} body was refused: ${refusal(body, format, utf8)}\nbody: ${shown(body)}`);
            const d = difference(got, want);
            if (d) throw new Error(`a valid ${format} body parsed to other families: ${d}\nbody: ${shown(body)}`);
          }),
        },
        {
          name: "written",
          share: 0.1,
          property: fc.property(anyValid(format), ({ want, utf8 }) => checkRoundTrip(want, format, { names: utf8 ? "utf8" : "legacy" })),
        },
        {
          name: "mutated",
          share: format === "protobuf" ? 0.45 : 0.55,
          property: fc.property(mutations, parseOptions, (body, options) => {
            checkBody(body, format, options);
          }),
        },
        {
          name: "roundtrip",
          share: 0.2,
          property: fc.property(mutations, fc.boolean(), (body, utf8) => {
            const options: ParseOptions = { names: utf8 ? "utf8" : "legacy" };
            const got = checkBody(body, format, options);
            if (got) checkRoundTrip(got, format, options);
          }),
        },
      ];
      if (format === "protobuf") {
        properties.push({
          name: "raw",
          share: 0.1,
          property: fc.property(rawProtobufBody, parseOptions, (body, options) => {
            checkBody(body, format, options);
          }),
        });
      }
      return { properties, close: async () => {} };
    },
  };
}

/** Why the parser refused a body (parseOrRefuse keeps only that it did). */
function refusal(body: Buffer, format: Format, utf8: boolean): string {
  try {
    parseBody(body, format, { names: utf8 ? "utf8" : "legacy" });
  } catch (e) {
    return (e as Error).message;
  }
  return "(accepted on a second try)";
}

function shown(body: Buffer): string {
  return JSON.stringify(body.toString("latin1").slice(0, 2000));
}
