// The agent's own metrics, served in Prometheus text format at GET /metrics through
// prom-client: the HTTP server's requests, the delivery pipeline of every sink, and whatever
// inputs register (pushes, parse errors).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** What the queue-depth gauges read from each sink's queue when scraped. */
export interface QueueGauges {
  name: string;
  points(): number;
  bytes(): number;
  diskBytes(): number | undefined;
}

export class SelfMetrics {
  readonly registry = new Registry();
  private readonly queues: QueueGauges[] = [];

  /** Adds a sink's queue: its gauges are read at each scrape, its counters start at 0. */
  watchQueue(q: QueueGauges): void {
    this.queues.push(q);
    const sink = { sink: q.name };
    for (const c of [this.sinkSent, this.sinkRetried, this.sinkDeadLettered, this.sinkRefused]) c.inc(sink, 0);
    for (const retry of ["true", "false"]) this.sinkFailed.inc({ ...sink, retry }, 0);
    for (const outcome of ["sent", "failed"]) this.sinkBatchSeconds.zero({ ...sink, outcome });
  }

  readonly httpRequests = new Counter({
    name: "pushkit_http_requests_total",
    help: "HTTP requests answered, by route, method and status code.",
    labelNames: ["route", "method", "code"] as const,
    registers: [this.registry],
  });

  readonly httpRefused = new Counter({
    name: "pushkit_http_requests_refused_total",
    help: "Requests refused before their route: client_certificate, origin (a foreign page's write), rate_limit (429), credentials (401), scope (403), auth_busy (503).",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });

  readonly sinkQueuePoints = new Gauge({
    name: "pushkit_sink_queue_points",
    help: "Points accepted and not yet written, by sink.",
    labelNames: ["sink"] as const,
    registers: [this.registry],
    collect: () => {
      for (const q of this.queues) this.sinkQueuePoints.set({ sink: q.name }, q.points());
    },
  });
  readonly sinkQueueBytes = new Gauge({
    name: "pushkit_sink_queue_bytes",
    help: "Line-protocol bytes accepted and not yet written, by sink.",
    labelNames: ["sink"] as const,
    registers: [this.registry],
    collect: () => {
      for (const q of this.queues) this.sinkQueueBytes.set({ sink: q.name }, q.bytes());
    },
  });
  readonly sinkDiskBytes = new Gauge({
    name: "pushkit_sink_disk_queue_bytes",
    help: "Bytes of a durable sink's queue segment files.",
    labelNames: ["sink"] as const,
    registers: [this.registry],
    collect: () => {
      for (const q of this.queues) {
        const d = q.diskBytes();
        if (d !== undefined) this.sinkDiskBytes.set({ sink: q.name }, d);
      }
    },
  });
  readonly sinkSent = new Counter({ name: "pushkit_sink_points_sent_total", help: "Points the sink's backend acknowledged.", labelNames: ["sink"] as const, registers: [this.registry] });
  readonly sinkRetried = new Counter({ name: "pushkit_sink_batches_retried_total", help: "Batch writes that failed and will be retried.", labelNames: ["sink"] as const, registers: [this.registry] });
  readonly sinkFailed = new Counter({ name: "pushkit_sink_write_failures_total", help: "Batch writes that failed, by whether they are retried.", labelNames: ["sink", "retry"] as const, registers: [this.registry] });
  readonly sinkDeadLettered = new Counter({ name: "pushkit_sink_points_dead_lettered_total", help: "Points the backend refused for good, set aside in the sink's dead-letter file.", labelNames: ["sink"] as const, registers: [this.registry] });
  readonly sinkRefused = new Counter({ name: "pushkit_sink_pushes_refused_total", help: "Pushes refused with 503 because the sink's queue was full.", labelNames: ["sink"] as const, registers: [this.registry] });
  readonly sinkBatchSeconds = new Histogram({
    name: "pushkit_sink_batch_duration_seconds",
    help: "Time to write one batch to the sink, by outcome.",
    labelNames: ["sink", "outcome"] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "pushkit_" });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
