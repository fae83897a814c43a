// Every fuzz target by name, in the order a full run takes them. Loaded on demand: a worker
// that fuzzes the text parser need not load the agent's configuration or an HTTP client.
import type { FuzzTarget } from "./target.ts";

export const TARGETS: Record<string, () => Promise<FuzzTarget>> = {
  text: async () => (await import("./parsers.ts")).parserTarget("text"),
  openmetrics: async () => (await import("./parsers.ts")).parserTarget("openmetrics"),
  protobuf: async () => (await import("./parsers.ts")).parserTarget("protobuf"),
  grouping: async () => (await import("./grouping.ts")).groupingTarget,
  snappy: async () => (await import("./snappy.ts")).snappyTarget,
  config: async () => (await import("./config.ts")).configTarget,
  http: async () => (await import("./http.ts")).httpTarget,
};

/** The targets over one parser each (what "1,000,000 inputs per parser" counts); http needs an agent and is slower. */
export const PARSER_TARGETS = ["text", "openmetrics", "protobuf", "grouping", "snappy", "config"];
