// The small interface between the host and its plugins. The host knows inputs and sinks
// only through these types: a name, a typed option schema, and a factory.
import type { Logger } from "pino";
import type { Middleware } from "koa";
import type { OptionsOf, Schema } from "./options.ts";
import type { QueueOptions } from "./delivery.ts";
import type { PointBatch } from "./batch.ts";
import type { Registry as MetricsRegistry } from "prom-client";

export type HttpMethod = "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS";

/**
 * Who may call a route once credentials are configured: anyone ("public", only the health
 * checks), or a client granted the scope: "push" writes groups, "read" reads what was pushed,
 * "admin" deletes everything.
 */
export type Access = "public" | "push" | "read" | "admin";

export interface RouteSpec {
  access: Access;
  /** Names the route in the request metrics (default: the path). */
  label?: string;
  /** Web pages of the origins in [http] cors_allowed_origins may read it (CORS, preflight included). */
  crossOrigin?: boolean;
}

export interface RouteRegistrar {
  /** Registers a handler on the agent's shared HTTP server; a path may be a RegExp over the raw path. */
  route(methods: HttpMethod[], path: string | RegExp, handler: Middleware, spec: RouteSpec): void;
}

export interface InputContext {
  log: Logger;
  http: RouteRegistrar;
  /**
   * Hands points to the delivery pipeline, all or nothing. Throws a BackpressureError
   * synchronously, with nothing accepted, when a sink cannot take them (so an input can apply
   * its own state change in the same step); rejects when a disk queue could not keep them.
   */
  emit(batch: PointBatch): Promise<void>;
  /**
   * Hands series that ended (a PointBatch.removals batch) to the sinks that understand
   * removals (Sink.acceptsRemovals); the others never see it. Same contract as emit: all or
   * nothing, a BackpressureError when such a sink cannot take it. Resolves at once when no
   * sink accepts removals.
   */
  retract(batch: PointBatch): Promise<void>;
  /** Whether any sink accepts removals: when none does, an input need not build them. */
  removalsWanted(): boolean;
  /** Tags for every point the input produces ([agent] global_tags); the input's own tags and labels win. */
  globalTags: Readonly<Record<string, string>>;
  /** The agent's own metrics (served at GET /metrics): an input registers its counters here. */
  metrics: MetricsRegistry;
}

export interface RunningInput {
  start?(): Promise<void>;
  stop?(): Promise<void>;
}

export interface InputDefinition<S extends Schema = Schema> {
  name: string;
  description: string;
  options: S;
  create(options: OptionsOf<S>, ctx: InputContext): RunningInput;
}

export interface SinkContext {
  log: Logger;
}

export interface Sink {
  start?(): Promise<void>;
  /**
   * Set by a sink that can do something with series that ended: it is then also given removal
   * batches (batch.removal) through write, in order with the other batches.
   */
  readonly acceptsRemovals?: boolean;
  /** Writes one batch; rejects when it was not written, so the pipeline may retry it. */
  write(batch: PointBatch): Promise<void>;
  close(): Promise<void>;
}

export interface SinkDefinition<S extends Schema = Schema> {
  name: string;
  description: string;
  options: S;
  /** URL schemes accepted in ENV_SINKS, e.g. ["stdout"], and how such a URL maps to options. */
  urlSchemes: string[];
  /** Defaults of the delivery options (batch_points, durable, max_in_flight, ...) for this sink. */
  deliveryDefaults?: Partial<QueueOptions>;
  fromUrl(url: URL): Record<string, unknown>;
  create(options: OptionsOf<S>, ctx: SinkContext): Sink;
}

export function defineInput<S extends Schema>(d: InputDefinition<S>): InputDefinition<S> {
  return d;
}

export function defineSink<S extends Schema>(d: SinkDefinition<S>): SinkDefinition<S> {
  return d;
}
