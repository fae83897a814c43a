// Writes points to a Prometheus remote-write 1.0 receiver (Prometheus with
// --web.enable-remote-write-receiver, Mimir, Cortex, Thanos receive, VictoriaMetrics, ...):
// a protobuf WriteRequest (this folder's remote.proto), snappy block-compressed, POSTed.
//
// series.ts turns points into series, encode.ts series into request bytes, client.ts sends
// them; this module is the sink the agent configures. It accepts removal batches (series that
// ended, core/batch.ts) and writes them as staleness markers, so that queries stop showing a
// deleted series at once rather than its last value for 5 minutes. What a caller needs to end
// series itself is exported here too.
import { defineSink, type Sink } from "../../../core/plugin.ts";
import { RemoteWriteClient, writeStaleMarkers } from "./client.ts";
import { encodeStaleSamples, encodeWriteRequest } from "./encode.ts";
import { options } from "./options.ts";
import { pointsToTimeSeries, type LabelSet } from "./series.ts";

export { RemoteWriteClient, writeStaleMarkers } from "./client.ts";
export { compressWriteRequest, encodeStaleMarkers, encodeStaleSamples, encodeWriteRequest, isStaleNaN, STALE_NAN, STALE_NAN_BITS, WriteRequestType } from "./encode.ts";
export { validateOptions, type RemoteWriteOptions } from "./options.ts";
export {
  labelsOf,
  metricName,
  nsToMs,
  pointsToTimeSeries,
  sanitizeLabelName,
  sanitizeMetricName,
  seriesOf,
  tagLabels,
  type Label,
  type LabelSet,
  type Sample,
  type TimeSeries,
} from "./series.ts";

export interface RemoteWriteSink extends Sink {
  /** Marks the given series stale at timeMs; see writeStaleMarkers. */
  writeStaleMarkers(series: readonly LabelSet[], timeMs: number): Promise<void>;
}

export default defineSink({
  name: "prometheus_remote_write",
  description: "Prometheus remote write 1.0 (protobuf, snappy) to Prometheus, Mimir, Thanos, VictoriaMetrics...",
  options,
  // "remote_write+http" would be no URL at all: a scheme may not hold "_" (RFC 3986), and
  // ENV_SINKS entries are parsed as URLs. Hence the hyphen.
  urlSchemes: ["remote-write+http", "remote-write+https"],
  // Remote-write receivers like requests of a few thousand samples (Prometheus' own sender
  // sends up to 2000 per request), soon after they are taken.
  // Durable like every network sink; one write at a time, since Prometheus refuses samples that arrive out of order.
  deliveryDefaults: { batch_points: 2000, flush_interval: 1000, durable: true, max_in_flight: 1 },
  fromUrl(url) {
    const scheme = url.protocol.replace(/^remote-write\+/, "").replace(/:$/, "");
    if (url.host === "") throw new Error(`expected remote-write+${scheme}://host:port/path, got no host`);
    if (url.pathname === "") throw new Error(`expected a path such as remote-write+${scheme}://${url.host}/api/v1/write`);
    if (url.hash !== "") throw new Error(`a fragment ("${url.hash}") has no meaning here`);
    const table: Record<string, unknown> = { url: `${scheme}://${url.host}${url.pathname}${url.search}` };
    if (url.username !== "") table.username = decodeURIComponent(url.username);
    if (url.password !== "") table.password = decodeURIComponent(url.password);
    return table;
  },
  create(options, ctx): RemoteWriteSink {
    const client = new RemoteWriteClient(options);
    return {
      acceptsRemovals: true,
      async write(batch) {
        // A removal names the series that ended and, as its points' times, when: the same
        // series as its points would write to, each marked stale at that time.
        const series = pointsToTimeSeries(batch.points());
        if (series.length === 0) return;
        await client.send(batch.removal ? encodeStaleSamples(series) : encodeWriteRequest(series));
        ctx.log.debug({ points: batch.size, series: series.length, removal: batch.removal }, batch.removal ? "staleness markers sent" : "remote write sent");
      },
      writeStaleMarkers(series, timeMs) {
        return writeStaleMarkers(client, series, timeMs);
      },
      async close() {
        client.close();
      },
    };
  },
});
