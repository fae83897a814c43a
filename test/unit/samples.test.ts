// The committed sample config is what `pushkit samples` renders, and it means the defaults.
import { expect } from "chai";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig, values } from "../../core/config.ts";
import type { Schema } from "../../core/options.ts";
import { renderSample } from "../../core/render.ts";
import pushgateway from "../../plugins/inputs/pushgateway/index.ts";
import { builtinRegistry } from "../../plugins/index.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const CONF_D = path.join(ROOT, "conf.d");
const SAMPLE = path.join(CONF_D, "samples", "pushgateway.conf.sample");

function defaultsOf(schema: Schema): Record<string, unknown> {
  return Object.fromEntries(Object.entries(schema).map(([k, spec]) => [k, spec.default]));
}

describe("pushgateway sample config", () => {
  const registry = builtinRegistry();
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "pushkit-samples-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("the registered pushgateway input is the one the sample is rendered from", () => {
    expect(registry.inputs.get("pushgateway")).to.equal(pushgateway);
  });

  it("the committed sample equals renderSample(pushgateway)", () => {
    expect(readFileSync(SAMPLE, "utf8")).to.equal(renderSample(pushgateway));
  });

  it("lists every option with its env variable", () => {
    const text = renderSample(pushgateway);
    for (const [key, spec] of Object.entries(pushgateway.options)) {
      // A table array is shown as one commented [[...]] table: "key = []" would clash with a user's tables.
      expect(text).to.match(new RegExp(spec.tableExample ? `^  # \\[\\[inputs\\.pushgateway\\.${key}\\]\\]$` : `^  ${key} = `, "m"));
      expect(text).to.include(`env ENV_INPUT_PUSHGATEWAY_${key.toUpperCase()}`);
    }
    expect(text).to.match(/^\[\[inputs\.pushgateway\]\]$/m);
  });

  it("copied to a .conf file, it parses back to exactly the defaults", () => {
    copyFileSync(SAMPLE, path.join(dir, "pushgateway.conf"));
    const config = loadConfig({ confDir: dir, env: {}, registry });
    expect(config.inputs).to.have.length(1);
    const input = config.inputs[0];
    expect(input.type).to.equal("pushgateway");
    expect(values(input.settings)).to.deep.equal(defaultsOf(pushgateway.options));
    // Every option is written out in the sample, so every value comes from the file (but the
    // table arrays, shown commented out).
    for (const [key, s] of Object.entries(input.settings)) expect(s.source.kind, key).to.equal(pushgateway.options[key as keyof typeof pushgateway.options].tableExample ? "default" : "file");
    expect(config.warnings).to.deep.equal([]);
  });

  it("gives the same values as ENV_DEFAULT_ENABLED_INPUTS=pushgateway", () => {
    copyFileSync(SAMPLE, path.join(dir, "pushgateway.conf"));
    const fromSample = loadConfig({ confDir: dir, env: {}, registry }).inputs[0];
    const fromEnv = loadConfig({ confDir: path.join(dir, "missing"), env: { ENV_DEFAULT_ENABLED_INPUTS: "pushgateway" }, registry }).inputs[0];
    expect(values(fromSample.settings)).to.deep.equal(values(fromEnv.settings));
  });

  it("left in samples/, it is never loaded", () => {
    mkdirSync(path.join(dir, "samples"));
    copyFileSync(SAMPLE, path.join(dir, "samples", "pushgateway.conf.sample"));
    copyFileSync(SAMPLE, path.join(dir, "samples", "pushgateway.conf"));
    expect(loadConfig({ confDir: dir, env: {}, registry }).inputs).to.deep.equal([]);
  });

  it("the committed conf.d loads with the defaults and one pushgateway input", () => {
    const config = loadConfig({ confDir: CONF_D, env: {}, registry });
    expect(config.sections.http.listen.value).to.equal("127.0.0.1:9529");
    expect(config.sections.log.level.value).to.equal("info");
    expect(config.inputs.map((i) => i.type)).to.deep.equal(["pushgateway"]);
    expect(values(config.inputs[0].settings)).to.deep.equal(defaultsOf(pushgateway.options));
    expect(config.sinks.map((s) => s.type)).to.deep.equal(["stdout"]);
  });
});
