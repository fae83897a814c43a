// The agent host: builds sinks, the delivery stage and inputs from the effective
// configuration, serves the shared HTTP server, and shuts everything down in order.
import type { Logger } from "pino";
import { type AgentConfig, values } from "./config.ts";
import { DELIVERY_KEYS, Delivery, SinkQueue, type QueueOptions } from "./delivery.ts";
import { HttpServer } from "./http.ts";
import type { RunningInput, Sink } from "./plugin.ts";
import type { Registry } from "./registry.ts";

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
  const server = new HttpServer(values(config.sections.http) as any, log.child({ component: "http" }));

  const sinks: Sink[] = [];
  const queues = config.sinks.map((sc, i) => {
    const def = registry.sinks.get(sc.type)!;
    const name = config.sinks.filter((s) => s.type === sc.type).length > 1 ? `${sc.type}#${i + 1}` : sc.type;
    const { queue, own } = splitSinkOptions(values(sc.settings));
    const sinkLog = log.child({ sink: name });
    const sink = def.create(own as any, { log: sinkLog });
    sinks.push(sink);
    return new SinkQueue(name, sink, queue, sinkLog);
  });
  const delivery = new Delivery(queues);

  const inputs: RunningInput[] = config.inputs.map((ic) => {
    const def = registry.inputs.get(ic.type)!;
    return def.create(values(ic.settings) as any, {
      log: log.child({ input: ic.type }),
      http: server,
      emit: async (batch) => delivery.emit(batch),
    });
  });

  for (const s of sinks) await s.start?.();
  for (const i of inputs) await i.start?.();
  const address = await server.listen();
  server.ready = true;
  log.info({ listen: `${address.host}:${address.port}`, inputs: config.inputs.map((i) => i.type), sinks: queues.map((q) => q.name) }, "pushkit started");

  let stopping: Promise<boolean> | undefined;
  return {
    address,
    stop() {
      stopping ??= (async () => {
        const deadline = Date.now() + shutdownTimeout;
        log.info({ timeoutMs: shutdownTimeout }, "shutting down");
        await server.close(deadline);
        for (const i of inputs) await i.stop?.();
        await delivery.close(deadline);
        const undelivered = queues.reduce((n, q) => n + q.depth, 0);
        log.info({ undelivered }, "stopped");
        return undelivered === 0;
      })();
      return stopping;
    },
  };
}
