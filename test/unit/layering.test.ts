// The layering rules of the plugins, read from the import statements of the source files:
// the format libraries under plugins/formats/ import no input, no sink and none of the host's
// HTTP layer (core/http.ts, core/errors.ts with its HttpError, koa, @koa/router), so that any
// input can use them; an input never imports from another input's folder; and the pushgateway's
// group store (store/) knows nothing of how its parse workers (ingest/) hand families over: it
// takes the PushedFamily it defines, and ingest/ adapts its packed families to that.
import { expect } from "chai";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Every .ts file under dir (relative to the repository), recursively. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(rel));
    else if (entry.name.endsWith(".ts")) out.push(rel);
  }
  return out.sort();
}

const STATIC_IMPORT = /(?:^|[\s;])(?:import|export)\b[^"'`;]*?\bfrom\s*(["'])([^"']+)\1/g;
const SIDE_EFFECT_IMPORT = /(?:^|[\s;])import\s*(["'])([^"']+)\1/g;
const DYNAMIC_IMPORT = /\bimport\s*\(\s*(["'])([^"']+)\1/g;

/** The module specifiers a source text imports (static, side-effect only, dynamic with a literal). */
function specifiers(text: string): string[] {
  const out: string[] = [];
  for (const re of [STATIC_IMPORT, SIDE_EFFECT_IMPORT, DYNAMIC_IMPORT]) {
    for (const m of text.matchAll(re)) out.push(m[2]);
  }
  return out;
}

interface Import {
  /** The importing file, relative to the repository. */
  file: string;
  specifier: string;
  /** A relative specifier resolved against the repository; a package name as it is. */
  target: string;
}

function imports(file: string): Import[] {
  const text = readFileSync(path.join(ROOT, file), "utf8");
  return specifiers(text).map((specifier) => ({
    file,
    specifier,
    target: specifier.startsWith(".") ? path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier)) : specifier,
  }));
}

/** Why a format library may not import this, or undefined when it may. */
function forbiddenInFormats(target: string): string | undefined {
  if (target.startsWith("plugins/inputs/")) return "an input";
  if (target.startsWith("plugins/sinks/")) return "a sink";
  if (target === "core/http.ts" || target === "core/errors.ts") return "the host's HTTP layer";
  if (target === "koa" || target.startsWith("koa/") || target === "@koa/router" || target.startsWith("@koa/router/")) return "the HTTP framework";
  return undefined;
}

function show(i: Import, why: string): string {
  return `${i.file} imports ${i.specifier} (${why})`;
}

describe("layering", () => {
  it("reads every kind of import statement", () => {
    const text = [
      'import { a } from "./a.ts";',
      "import type {",
      "  B,",
      "  C,",
      "} from '../b.ts';",
      'export { d } from "./d.ts";',
      'export * from "./e.ts";',
      'import "./f.ts";',
      'const g = await import("koa");',
      'import h, { type I } from "@koa/router";',
    ].join("\n");
    expect(specifiers(text)).to.have.members(["./a.ts", "../b.ts", "./d.ts", "./e.ts", "./f.ts", "koa", "@koa/router"]);
  });

  it("plugins/formats/ imports no input, sink or HTTP code", () => {
    const files = sources("plugins/formats");
    expect(files).to.include("plugins/formats/prometheus/parse-text.ts");
    const all = files.flatMap(imports);
    expect(all.map((i) => i.target)).to.include("plugins/formats/prometheus/model.ts");
    const bad = all.flatMap((i) => {
      const why = forbiddenInFormats(i.target);
      return why ? [show(i, why)] : [];
    });
    expect(bad).to.deep.equal([]);
  });

  it("no input imports from another input's folder", () => {
    const inputs = readdirSync(path.join(ROOT, "plugins/inputs"), { withFileTypes: true }).filter((e) => e.isDirectory());
    expect(inputs.map((e) => e.name)).to.include("pushgateway");
    const bad: string[] = [];
    for (const input of inputs) {
      const own = `plugins/inputs/${input.name}/`;
      for (const i of sources(own.slice(0, -1)).flatMap(imports)) {
        if (i.target.startsWith("plugins/inputs/") && !i.target.startsWith(own)) bad.push(show(i, "another input"));
      }
    }
    expect(bad).to.deep.equal([]);
  });

  it("the pushgateway's group store imports nothing from its parse workers", () => {
    const store = "plugins/inputs/pushgateway/store";
    const all = sources(store).flatMap(imports);
    expect(all.map((i) => i.file)).to.include(`${store}/store.ts`);
    expect(all.map((i) => i.target)).to.include(`${store}/pushed-family.ts`);
    const bad = all.filter((i) => i.target.startsWith("plugins/inputs/pushgateway/ingest/")).map((i) => show(i, "the parse workers' side"));
    expect(bad).to.deep.equal([]);
  });
});
