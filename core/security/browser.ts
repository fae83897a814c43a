// What web pages may do. A page of another origin may read the routes that allow it only when
// its origin is listed (CORS), and may never write unless listed by name: a browser sends a
// cross-origin "simple" POST without asking first, with the user's remembered basic-auth
// credentials, so refusing writes whose Origin is foreign is what stops a page from injecting
// or deleting metrics. Clients that are not browsers send no Origin and are not affected.
export interface RequestHeaders {
  origin?: string;
  host?: string;
  "sec-fetch-site"?: string;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export class BrowserPolicy {
  private readonly listed: ReadonlySet<string>;
  private readonly anyReader: boolean;

  constructor(
    allowedOrigins: readonly string[],
    private readonly scheme: "http" | "https",
  ) {
    this.listed = new Set(allowedOrigins.filter((o) => o !== "*"));
    this.anyReader = allowedOrigins.includes("*");
  }

  private sameOrigin(origin: string, host: string | undefined): boolean {
    if (!host) return false;
    try {
      return new URL(`${this.scheme}://${host}`).origin === origin;
    } catch {
      return false;
    }
  }

  /** Why a request that changes something must be refused, or undefined when it may go on. */
  refuseWrite(method: string, h: RequestHeaders): string | undefined {
    if (SAFE_METHODS.has(method)) return undefined;
    const origin = h.origin;
    if (origin === undefined) {
      // Browsers that send Fetch Metadata but no Origin still say where the request came from.
      const site = h["sec-fetch-site"];
      return site === "cross-site" || site === "same-site" ? `a ${method} from another site (Sec-Fetch-Site: ${site}) is refused` : undefined;
    }
    if (this.listed.has(origin) || this.sameOrigin(origin, h.host)) return undefined;
    return `a ${method} from origin ${JSON.stringify(origin)} is refused: it is not this server's origin and not in [http] cors_allowed_origins`;
  }

  /** Headers that let the requesting page read the answer, when its origin is allowed. */
  corsHeaders(origin: string | undefined): Record<string, string> | undefined {
    if (origin === undefined) return undefined;
    if (this.listed.has(origin)) {
      return { "Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Access-Control-Expose-Headers": "Date", Vary: "Origin" };
    }
    if (this.anyReader) return { "Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Date" };
    return undefined;
  }

  /** The answer to a CORS preflight for a route that may be read cross-origin. */
  preflightHeaders(origin: string | undefined): Record<string, string> | undefined {
    const cors = this.corsHeaders(origin);
    if (!cors) return undefined;
    return { ...cors, "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS", "Access-Control-Allow-Headers": "Accept, Authorization, Content-Type", "Access-Control-Max-Age": "600" };
  }
}
