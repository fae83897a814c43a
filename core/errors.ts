// Errors that carry the HTTP answer a client should get.

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
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
