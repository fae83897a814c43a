// Encodes delimited MetricFamily bodies for tests, with protobufjs and the project's schema,
// from objects spelled with the schema's own field names (snake_case).
import protobuf from "protobufjs";
import { fileURLToPath } from "node:url";

const schema = fileURLToPath(new URL("../../plugins/formats/prometheus/metrics.proto", import.meta.url));
const MetricFamily = protobuf.loadSync(schema).lookupType("io.prometheus.client.MetricFamily");

export type FamilyObject = Record<string, unknown>;

/** One delimited record per family, concatenated. */
export function encodeFamilies(...families: FamilyObject[]): Buffer {
  const w = protobuf.Writer.create();
  for (const f of families) MetricFamily.encodeDelimited(MetricFamily.fromObject(camel(f) as FamilyObject), w);
  return Buffer.from(w.finish());
}

/** protobufjs' reflection API spells fields in camelCase unless told otherwise when loading. */
function camel(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(camel);
  if (v === null || typeof v !== "object") return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), camel(x)]));
}

export const PROTOBUF_CONTENT_TYPE = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";
