// Push paths (the part after /metrics/job) for a grouping key, in every spelling the protocol
// allows: the job plain or @base64, each label value plain (percent-encoded at random) or
// @base64 (padded or not), UTF-8 label names in the "values" escaping (U__...), a trailing
// slash after a lone job.
import fc from "fast-check";
import { Choices } from "./choices.ts";
import { LEGACY_LABEL, legacyLabelName } from "./names.ts";

export interface GroupingCase {
  path: string;
  job: string;
  labels: [string, string][];
  utf8: boolean;
}

/** Each byte of the UTF-8 text, as itself or %XX (always %XX for "%", "/" and what a URL path cannot hold). */
function percentEncode(text: string, c: Choices): string {
  let out = "";
  for (const b of Buffer.from(text, "utf8")) {
    const must = b === 0x25 || b === 0x2f || b === 0x3f || b === 0x23 || b < 0x21 || b >= 0x7f;
    const hex = b.toString(16).padStart(2, "0");
    out += must || c.chance(0.1) ? `%${c.chance(0.5) ? hex.toUpperCase() : hex}` : String.fromCharCode(b);
  }
  return out;
}

function base64(text: string, c: Choices): string {
  const raw = Buffer.from(text, "utf8").toString("base64url");
  const padded = raw + "=".repeat((4 - (raw.length % 4)) % 4);
  // An empty value needs something in its segment: "=" reads as empty.
  return raw === "" ? "=" : c.chance(0.3) ? padded.replace(/=/g, "%3D") : c.chance(0.5) ? padded : raw;
}

/** A label name as the "values" escaping writes it (U__ + "_" doubled + others as _hex_). */
function escapeValues(name: string): string {
  let out = "U__";
  for (const ch of name) {
    const cp = ch.codePointAt(0)!;
    if (/^[a-zA-Z0-9]$/.test(ch)) out += ch;
    else if (ch === "_") out += "__";
    else out += `_${cp.toString(16)}_`;
  }
  return out;
}

function nameSegment(name: string, utf8: boolean): string {
  if (!utf8 || (LEGACY_LABEL.test(name) && !name.startsWith("U__"))) return name;
  return escapeValues(name);
}

const text = fc.oneof(fc.string({ unit: "binary", maxLength: 10 }), fc.string({ unit: "grapheme-ascii", maxLength: 10 }), fc.constantFrom("/", "a/b", "%", "%2F", "@base64", "=", "+", " ", "é"));

export function groupingCase(): fc.Arbitrary<GroupingCase> {
  return fc.boolean().chain((utf8) => {
    const name = (utf8 ? fc.oneof(legacyLabelName, fc.string({ unit: "binary", minLength: 1, maxLength: 6 })) : legacyLabelName).filter((n) => n !== "job" && !n.startsWith("__"));
    return fc
      .record({
        job: text.filter((j) => j !== ""),
        labels: fc.uniqueArray(fc.tuple(name, text), { selector: (t) => t[0], maxLength: 4 }),
        seed: fc.integer(),
      })
      .map(({ job, labels, seed }) => {
        const c = new Choices(seed);
        let path = job.includes("/") || c.chance(0.3) ? `@base64/${base64(job, c)}` : `/${percentEncode(job, c)}`;
        for (const [n, v] of labels) {
          const seg = nameSegment(n, utf8);
          path += v === "" || v.includes("/") || c.chance(0.3) ? `/${seg}@base64/${base64(v, c)}` : `/${seg}/${percentEncode(v, c)}`;
        }
        if (labels.length === 0 && c.chance(0.2)) path += "/";
        return { path, job, labels, utf8 };
      });
  });
}

const TOKENS = ["/", "//", "@base64", "@base64/", "job", "U__", "U___", "_2e_", "_", "__", "%", "%2F", "%2f", "%zz", "%C3%A9", "%FF", "%00", "=", "==", "a", "é", "\u0000", "+", " ", "-", "AA", "____x"];

/** Paths of any shape, made of the tokens the grouping-key syntax gives meaning to and any text. */
export const anyPath: fc.Arbitrary<string> = fc
  .array(fc.oneof({ arbitrary: fc.constantFrom(...TOKENS), weight: 4 }, fc.string({ unit: "binary", maxLength: 4 }), fc.base64String({ maxLength: 8 })), { maxLength: 14 })
  .map((parts) => parts.join(""));
