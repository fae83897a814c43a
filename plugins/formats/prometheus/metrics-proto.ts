// The client_model protobuf schema (metrics.proto beside this file), loaded once: the protobuf
// parser decodes with it, the protobuf writer encodes with it.
import { readFileSync } from "node:fs";
import protobuf from "../../../core/protobuf.ts";

const SCHEMA = readFileSync(new URL("./metrics.proto", import.meta.url), "utf8");
export const MetricFamilyMessage = protobuf.parse(SCHEMA, { keepCase: true }).root.lookupType("io.prometheus.client.MetricFamily");
