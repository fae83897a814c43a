// Copies the non-TypeScript files the code loads at run time (protobuf schemas) into a build
// output directory, at the same relative paths, since tsc copies only what it compiles, and
// makes the package's bin executable there.
import { chmodSync, cpSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";

const outDir = process.argv[2] ?? "dist";
const ASSET = /\.proto$/;

function copy(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const from = path.join(dir, entry.name);
    if (entry.isDirectory()) copy(from);
    else if (ASSET.test(entry.name)) cpSync(from, path.join(outDir, from));
  }
}
for (const root of ["core", "plugins"]) copy(root);

// The package's bin is run directly (`./dist/core/cli.js`, npx): it must be executable.
const pkg = JSON.parse(readFileSync("package.json", "utf8"));
for (const bin of Object.values(pkg.bin ?? {})) {
  const built = path.join(outDir, path.relative("dist", bin));
  chmodSync(built, 0o755);
}
