// One HTTP exchange, timed, that never throws: a refused connection, a reset or a timeout is an
// answer with status 0 and the reason, so a load loop counts it instead of dying on it. The
// answer's body is read whole (back-pressure as a normal client) but only its start is kept.
import http from 'node:http';

export interface Answer {
  /** HTTP status, or 0 when there was no answer. */
  status: number;
  ms: number;
  /** The first `keepBytes` of the answer body, as text. */
  text: string;
  /** Bytes of the answer body. */
  bytes: number;
  error?: string;
  /** A kept-alive connection that was reset before any answer (see sendRetrying). */
  resetReused?: boolean;
}

export interface SendOptions {
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: Buffer;
  /** Whole-exchange deadline. */
  timeoutMs?: number;
  agent?: http.Agent | false;
  /** Source address, e.g. "127.0.0.2" to be another client of the agent. */
  localAddress?: string;
  keepBytes?: number;
}

/**
 * send(), and once more on a new connection when a kept-alive connection was reset before any
 * answer: the server closed it as idle while the request was on its way, so the request was
 * never read (the retry Go's and Node's own clients make for idempotent requests).
 */
export async function sendRetrying(url: string, o: SendOptions, onRetry?: () => void): Promise<Answer> {
  const a = await send(url, o);
  if (!a.resetReused) return a;
  onRetry?.();
  const b = await send(url, { ...o, agent: false });
  return { ...b, ms: a.ms + b.ms };
}

export function send(url: string, o: SendOptions = {}): Promise<Answer> {
  const t0 = performance.now();
  const keep = o.keepBytes ?? 512;
  return new Promise((resolve) => {
    let settled = false;
    const done = (a: Omit<Answer, 'ms'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...a, ms: performance.now() - t0 });
    };
    const headers: http.OutgoingHttpHeaders = { ...o.headers };
    if (o.body) headers['Content-Length'] = o.body.length;
    const req = http.request(url, { method: o.method ?? 'GET', headers, agent: o.agent, localAddress: o.localAddress }, (res) => {
      const kept: Buffer[] = [];
      let keptBytes = 0;
      let bytes = 0;
      res.on('data', (d: Buffer) => {
        bytes += d.length;
        if (keptBytes < keep) {
          kept.push(d.subarray(0, keep - keptBytes));
          keptBytes += Math.min(d.length, keep - keptBytes);
        }
      });
      res.on('end', () => done({ status: res.statusCode ?? 0, text: Buffer.concat(kept).toString('utf8'), bytes }));
      res.on('error', (e) => done({ status: 0, text: '', bytes, error: e.message }));
    });
    const timer = setTimeout(() => {
      done({ status: 0, text: '', bytes: 0, error: `no answer within ${o.timeoutMs} ms` });
      req.destroy();
    }, o.timeoutMs ?? 120_000);
    req.on('error', (e) => {
      const code = (e as NodeJS.ErrnoException).code;
      done({ status: 0, text: '', bytes: 0, error: code ?? e.message, resetReused: req.reusedSocket && code === 'ECONNRESET' });
    });
    req.end(o.body);
  });
}

/** The first line of an answer's text, for a report. */
export function firstLine(a: Answer): string {
  return (a.error ?? a.text.split('\n')[0] ?? '').slice(0, 200);
}
