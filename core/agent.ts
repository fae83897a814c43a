// The agent host: builds sinks, the delivery stage and inputs from the effective
// configuration, serves the shared HTTP server, and shuts everything down in order.
import path from "node:path";
import type { Logger } from "pino";
import { type AgentConfig, values } from "./config.ts";
import { DeadLetters } from "./dead-letter.ts";
import { DELIVERY_KEYS, Delivery, SinkQueue, type QueueOptions } from "./delivery.ts";
import { lockDataDir } from "./data-dir-lock.ts";
import { DiskQueue } from "./disk-queue.ts";
import { HttpServer, type HttpOptions } from "./http.ts";
import { HttpSecurity } from "./security/http-security.ts";
import type { RunningInput, Sink } from "./plugin.ts";
import { MemoryStore, type QueueStore } from "./queue-store.ts";
import type { Registry } from "./registry.ts";
import { SelfMetrics } from "./self-metrics.ts";

export interface RunningAgent {
  address: { host: string; port: number };
  /** Stops accepting, finishes in-flight requests, flushes every sink. Resolves true when all was flushed in time. */
  stop(): Promise<boolean>;
}

function splitSinkOptions(all: Record<string, any>): { queue: QueueOptions; own: Record<string, any> } {
  const queue = {} as Record<string, any>;
  const own: Record<string, any> = {};
  for (const [k, v] of Object.entries(all)) (DELIVERY_KEYS.includes(k) ? queue : own)[k] = v;
  return { queue: queue as QueueOptions, own };
}

export async function startAgent(config: AgentConfig, registry: Registry, log: Logger): Promise<RunningAgent> {
  const shutdownTimeout = config.sections.agent.shutdown_timeout.value as number;
  const dataDir = path.resolve(config.sections.agent.data_dir.value as string);
  // The TLS and credentials files first: a bad one stops the start before anything is taken.
  const httpOptions = values(config.sections.http) as HttpOptions;
  const httpLog = log.child({ component: "http" });
  const security = new HttpSecurity(httpOptions, httpLog);
  await security.load();
  const lock = await lockDataDir(dataDir, log);
  const metrics = new SelfMetrics();
  const server = new HttpServer(httpOptions, httpLog, security, metrics);

  const sinks: Sink[] = [];
  const queues = config.sinks.map((sc, i) => {
    const def = registry.sinks.get(sc.type)!;
    const name = config.sinks.filter((s) => s.type === sc.type).length > 1 ? `${sc.type}#${i + 1}` : sc.type;
    // Directory names stay the same across restarts as long as the sinks are configured alike.
    const dirName = name.replace(/[^A-Za-z0-9_.-]/g, "-");
    const { queue, own } = splitSinkOptions(values(sc.settings));
    const sinkLog = log.child({ sink: name });
    const sink = def.create(own as any, { log: sinkLog });
    sinks.push(sink);
    const store: QueueStore = queue.durable
      ? DiskQueue.open(path.join(dataDir, "queue", dirName), { segmentBytes: queue.segment_bytes, maxBytes: queue.max_disk_bytes }, sinkLog)
      : new MemoryStore(queue.max_queue_points, queue.max_queue_bytes);
    const q = new SinkQueue(name, queue, { sink, store, deadLetters: new DeadLetters(path.join(dataDir, "dead-letter", `${dirName}.lp`)), metrics, log: sinkLog });
    metrics.watchQueue({ name, points: () => q.depth, bytes: () => q.queuedBytes, diskBytes: () => (store instanceof DiskQueue ? store.diskBytes : undefined) });
    return q;
  });
  const delivery = new Delivery(queues, metrics);

  const inputs: RunningInput[] = config.inputs.map((ic) => {
    const def = registry.inputs.get(ic.type)!;
    return def.create(values(ic.settings) as any, {
      log: log.child({ input: ic.type }),
      http: server,
      emit: (batch) => delivery.admit(batch),
      retract: (batch) => delivery.emitRemovals(batch),
      removalsWanted: () => delivery.removalsWanted,
      globalTags: config.sections.agent.global_tags.value as Record<string, string>,
      metrics: metrics.registry,
    });
  });

  // The agent's own metrics, unless an input serves /metrics itself (a pushgateway input
  // without route prefix serves them there together with its groups, as the reference does).
  if (!server.handles("GET", "/metrics")) {
    server.route(["GET"], "/metrics", async (ctx) => {
      const { contentType, body } = await metrics.render();
      ctx.type = contentType;
      ctx.body = body;
    }, { access: "read" });
  }

  for (const s of sinks) await s.start?.();
  for (const q of queues) q.resume();
  for (const i of inputs) await i.start?.();
  const address = await server.listen();
  server.ready = true;
  log.info({ listen: `${address.host}:${address.port}`, scheme: security.tls ? "https" : "http", inputs: config.inputs.map((i) => i.type), sinks: queues.map((q) => q.name), security: security.describe() }, "pushkit started");

  let stopping: Promise<boolean> | undefined;
  return {
    address,
    stop() {
      stopping ??= (async () => {
        const deadline = Date.now() + shutdownTimeout;
        log.info({ timeoutMs: shutdownTimeout }, "shutting down");
        // Pushes are still taken while the queues drain: kube-proxy keeps sending to a
        // terminating pod until its endpoint is gone, and /-/ready now says it is going.
        server.draining = true;
        await delivery.flush(deadline);
        await server.close(deadline);
        for (const i of inputs) await i.stop?.();
        const lost = await delivery.close(deadline);
        const queuedOnDisk = queues.filter((q) => q.o.durable).reduce((n, q) => n + q.depth, 0);
        await lock.release();
        log.info({ lost, queuedOnDisk }, "stopped");
        return lost === 0;
      })();
      return stopping;
    },
  };
}
