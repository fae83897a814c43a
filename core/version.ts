// pushkit's version, from package.json, for the User-Agent of sinks and the status API.
import { readFileSync } from "node:fs";

function pushkitVersion(): string {
  // From the sources (tsx) core/ is one level below package.json; from dist/, two.
  for (const rel of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "pushkit" && pkg.version) return pkg.version;
    } catch {
      // not there: try the next candidate
    }
  }
  return "unknown";
}

export const VERSION = pushkitVersion();
