// The built-in inputs and sinks.
import { Registry } from "../core/registry.ts";
import pushgateway from "./inputs/pushgateway/index.ts";
import file from "./sinks/file/index.ts";
import influxdb from "./sinks/influxdb/index.ts";
import prometheusRemoteWrite from "./sinks/prometheus_remote_write/index.ts";
import stdout from "./sinks/stdout/index.ts";

export function builtinRegistry(): Registry {
  return new Registry().addInput(pushgateway).addSink(stdout).addSink(file).addSink(influxdb).addSink(prometheusRemoteWrite);
}
