// Runs `npm ci` when node_modules is missing or older than package-lock.json, so that
// `npm start` and `npm test` work in a fresh clone. Plain JS: it runs before tsx exists.
import { execSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const marker = path.join(root, "node_modules", ".package-lock.json");
const lock = path.join(root, "package-lock.json");
const stale = !existsSync(marker) || statSync(marker).mtimeMs < statSync(lock).mtimeMs;
if (stale) {
  process.stderr.write("pushkit: installing dependencies (npm ci)...\n");
  execSync("npm ci --no-audit --no-fund --loglevel=error", { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
}
