// How many points of a refused write an InfluxDB answer says were refused, so that the
// delivery stage (core/split-write.ts) splits a batch refused in part and leaves whole a part
// refused whole. InfluxDB 1.x (answers checked against 1.6):
// - some points stored, others not: 400 {"error":"partial write: <reason> dropped=N"}; for lines
//   it could not parse, dropped=0 and each is quoted: "unable to parse '<line>': <why>",
//   joined by newlines (one of the two reasons only when a batch has both);
// - every line unparsable: 400 {"error":"unable to parse '<line>': ..."} per line, no "partial";
// - the request as a whole refused ("database is required", a bad precision): 400, no line named.
// InfluxDB 2.x says {"code":"invalid","message":"..."} with the same phrases, refuses the whole
// request for an unparsable line, and answers 422 for a partial write.

/** The error text of an answer: {"error": ...} (1.x), {"message": ...} (2.x), or the body as it is. */
function errorText(body: string): string {
  try {
    const doc = JSON.parse(body) as { error?: unknown; message?: unknown };
    if (typeof doc.error === "string") return doc.error;
    if (typeof doc.message === "string") return doc.message;
  } catch {
    // not JSON: a proxy's page, or plain text
  }
  return body;
}

/**
 * At least how many of the `size` points of a write answered 400 or 422 with `body` the
 * backend refused; undefined when the answer does not tell.
 */
export function refusedPoints(body: string, size: number): number | undefined {
  const text = errorText(body).trim();
  // One entry per line, each on a line of its own (a quoted line cannot hold a raw newline:
  // line protocol escapes it), so that a quoted line holding the phrase is not counted twice.
  const entries = text.split("\n");
  entries[0] = entries[0].replace(/^.*?partial write: /, "");
  const unparsable = entries.filter((e) => e.startsWith("unable to parse '")).length;
  if (text.includes("partial write:")) {
    const dropped = Number(/dropped=(\d+)$/.exec(text)?.[1] ?? 0);
    const refused = Math.max(dropped, unparsable);
    return refused > 0 ? Math.min(refused, size) : undefined;
  }
  if (unparsable > 0) return Math.min(unparsable, size);
  // An answer cut short (the sink keeps 64 KiB of it) that names lines: how many is not known.
  if (text.includes("unable to parse")) return undefined;
  // A 400 naming no line is about the request, not its points: every part would get it too.
  return size;
}
