// Errors that carry the HTTP answer a client should get.

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string | string[]> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

/** A sink's queue is full: the push must be refused with 503 and retried later. */
export class BackpressureError extends HttpError {
  constructor(message: string, retryAfterSeconds: number) {
    super(503, message, { "Retry-After": String(retryAfterSeconds) });
    this.name = "BackpressureError";
  }
}

/**
 * A sink's write that did not succeed, as the sink judged it. `retry` false means the
 * backend refused the batch for what it is (e.g. HTTP 400): sending it again cannot help.
 * `retryAfterMs` carries a backend's Retry-After; `response` the backend's answer, kept
 * with a batch that is set aside. `refused`: how many of the batch's points the backend said
 * it refused, when its answer tells (at least that many); the delivery stage splits a refused
 * batch to set aside only what was refused, and a part refused whole is not split further.
 */
export class SinkWriteError extends Error {
  constructor(
    message: string,
    readonly retry: boolean,
    readonly detail: { status?: number; retryAfterMs?: number; response?: string; refused?: number } = {},
  ) {
    super(message);
    this.name = "SinkWriteError";
  }
}
