// Copies the non-TypeScript files the code loads at run time (protobuf schemas) into a build
// output directory, at the same relative paths, since tsc copies only what it compiles.
import { cpSync, readdirSync } from "node:fs";
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
