// Loading the effective configuration: conf.d files, $VAR substitution and ENV_* variables.
import { expect } from "chai";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadConfig, sinkSchema, type AgentConfig, type ComponentConfig } from "../../core/config.ts";
import { ConfigError } from "../../core/options.ts";
import { renderEffective } from "../../core/render.ts";
import { builtinRegistry } from "../../plugins/index.ts";

type Env = Record<string, string | undefined>;

const registry = builtinRegistry();
const tempDirs: string[] = [];

/** A fresh conf dir under the OS temp dir holding the given files (paths relative to it). */
function confDir(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pushkit-config-"));
  tempDirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    const full = path.join(dir, name);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, text);
  }
  return dir;
}

function load(files: Record<string, string> = {}, env: Env = {}): AgentConfig {
  return loadConfig({ confDir: confDir(files), env, registry });
}

/** The ConfigError thrown by loading; fails the test when loading succeeds. */
function loadError(files: Record<string, string>, env: Env = {}): string {
  const dir = confDir(files);
  try {
    loadConfig({ confDir: dir, env, registry });
  } catch (e) {
    expect(e).to.be.instanceOf(ConfigError);
    return (e as Error).message;
  }
  expect.fail("loadConfig accepted a configuration it should have rejected");
}

function render(config: AgentConfig): string {
  return renderEffective(
    config,
    (t) => registry.inputs.get(t)!.options,
    (t) => sinkSchema(registry.sinks.get(t)!),
  );
}

function inputsOf(config: AgentConfig, type = "pushgateway"): ComponentConfig[] {
  return config.inputs.filter((i) => i.type === type);
}

describe("config", () => {
  after(() => {
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });

  describe("config: defaults", () => {
    it("a missing conf dir is valid and gives every default and the stdout sink", () => {
      const missing = path.join(confDir(), "does-not-exist");
      const config = loadConfig({ confDir: missing, env: {}, registry });
      expect(config.sections.http.listen).to.deep.equal({ value: "127.0.0.1:9529", source: { kind: "default" } });
      expect(config.sections.log.level.value).to.equal("info");
      expect(config.sections.log.format.value).to.equal("auto");
      expect(config.inputs).to.have.length(0);
      expect(config.sinks.map((s) => s.type)).to.deep.equal(["stdout"]);
      expect(config.warnings).to.deep.equal([]);
    });

    it("an empty conf dir is valid and gives the same defaults", () => {
      const config = load();
      expect(config.sections.http.listen.value).to.equal("127.0.0.1:9529");
      expect(config.sections.http.request_timeout).to.deep.equal({ value: 60_000, source: { kind: "default" } });
      expect(config.sections.http.headers_timeout.value).to.equal(10_000);
      expect(config.sections.http.keep_alive_timeout.value).to.equal(5_000);
      expect(config.sections.agent.shutdown_timeout.value).to.equal(10_000);
      expect(config.inputs).to.deep.equal([]);
      expect(config.sinks).to.have.length(1);
      expect(config.sinks[0].type).to.equal("stdout");
      expect(config.sinks[0].settings.batch_points).to.deep.equal({ value: 100_000, source: { kind: "default" } });
      expect(config.sinks[0].settings.flush_interval).to.deep.equal({ value: 200, source: { kind: "default" } });
    });

    it("a conf dir that is a regular file is an error", () => {
      const dir = confDir({ "plain-file": "x" });
      expect(() => loadConfig({ confDir: path.join(dir, "plain-file"), env: {}, registry })).to.throw(ConfigError, /not a directory/);
    });
  });

  describe("config: agent.conf", () => {
    it("reads [agent], [http] and [log] and records the file as source", () => {
      const config = load({
        "agent.conf": [
          "[agent]",
          'shutdown_timeout = "3s"',
          "[http]",
          'listen = "0.0.0.0:9600"',
          'request_timeout = "2m"',
          'headers_timeout = "15s"',
          'keep_alive_timeout = "750ms"',
          "[log]",
          'level = "debug"',
          'format = "json"',
          "",
        ].join("\n"),
      });
      expect(config.sections.agent.shutdown_timeout.value).to.equal(3000);
      expect(config.sections.http.listen.value).to.equal("0.0.0.0:9600");
      expect(config.sections.http.request_timeout.value).to.equal(120_000);
      expect(config.sections.http.headers_timeout.value).to.equal(15_000);
      expect(config.sections.http.keep_alive_timeout.value).to.equal(750);
      expect(config.sections.log.level.value).to.equal("debug");
      expect(config.sections.log.format.value).to.equal("json");
      const source = config.sections.http.listen.source;
      expect(source.kind).to.equal("file");
      expect(source.kind === "file" && source.file).to.match(/agent\.conf$/);
    });

    it("keeps the default (and its source) for keys a section does not set", () => {
      const config = load({ "agent.conf": '[http]\nlisten = "127.0.0.1:1"\n' });
      expect(config.sections.http.listen.source.kind).to.equal("file");
      expect(config.sections.http.request_timeout).to.deep.equal({ value: 60_000, source: { kind: "default" } });
    });

    it("reads [[sinks.<type>]] tables, several of them, and then no default sink is added", () => {
      const config = load({
        "agent.conf": ['[[sinks.file]]', 'path = "/tmp/a.lp"', "batch_points = 10", "[[sinks.stdout]]", 'flush_interval = "250ms"', ""].join("\n"),
      });
      expect(config.sinks.map((s) => s.type)).to.deep.equal(["file", "stdout"]);
      expect(config.sinks[0].settings.path.value).to.equal("/tmp/a.lp");
      expect(config.sinks[0].settings.batch_points.value).to.equal(10);
      expect(config.sinks[0].settings.max_queue_points.source).to.deep.equal({ kind: "default" });
      expect(config.sinks[1].settings.flush_interval.value).to.equal(250);
    });

    it("accepts the single-table form [sinks.file]", () => {
      const config = load({ "agent.conf": '[sinks.file]\npath = "/tmp/single.lp"\n' });
      expect(config.sinks).to.have.length(1);
      expect(config.sinks[0].type).to.equal("file");
      expect(config.sinks[0].settings.path.value).to.equal("/tmp/single.lp");
    });
  });

  describe("config: input conf files", () => {
    it("loads *.conf recursively, ignores other extensions, never loads samples/", () => {
      const config = load({
        "top.conf": '[[inputs.pushgateway]]\nroute_prefix = "/top"\n',
        "nested/deeper/more.conf": '[[inputs.pushgateway]]\nroute_prefix = "/deep"\n',
        "nested/readme.toml": "this is not toml at all = = =",
        "notes.conf.bak": "[[inputs.nope]]",
        "samples/pushgateway.conf": "[[inputs.pushgateway]]\nroute_prefix = 42\n",
        "samples/pushgateway.conf.sample": "[[inputs.pushgateway]]\n",
      });
      const prefixes = inputsOf(config).map((i) => i.settings.route_prefix.value);
      expect(prefixes).to.have.members(["/top", "/deep"]);
      expect(prefixes).to.have.length(2);
      const deep = inputsOf(config).find((i) => i.settings.route_prefix.value === "/deep")!;
      expect(deep.origin).to.include(path.join("nested", "deeper", "more.conf"));
    });

    it("accepts [inputs.x] and [[inputs.x]] and several instances in one file", () => {
      const single = load({ "a.conf": '[inputs.pushgateway]\nmeasurement_name = "one"\n' });
      expect(inputsOf(single)).to.have.length(1);
      expect(inputsOf(single)[0].settings.measurement_name.value).to.equal("one");

      const many = load({
        "b.conf": [
          "[[inputs.pushgateway]]",
          'route_prefix = "/a"',
          "[[inputs.pushgateway]]",
          'route_prefix = "/b"',
          "honor_timestamps = false",
          'tags = { site = "x", rack = "7" }',
          'max_body_bytes = "1KiB"',
          "max_decompressed_bytes = 4096",
          "",
        ].join("\n"),
      });
      const list = inputsOf(many);
      expect(list.map((i) => i.settings.route_prefix.value)).to.deep.equal(["/a", "/b"]);
      expect(list[0].settings.honor_timestamps).to.deep.equal({ value: true, source: { kind: "default" } });
      expect(list[1].settings.honor_timestamps.value).to.equal(false);
      expect(list[1].settings.honor_timestamps.source.kind).to.equal("file");
      expect(list[1].settings.tags.value).to.deep.equal({ site: "x", rack: "7" });
      expect(list[1].settings.max_body_bytes.value).to.equal(1024);
      expect(list[1].settings.max_decompressed_bytes.value).to.equal(4096);
    });

    it("an input file with only comments enables nothing", () => {
      const config = load({ "empty.conf": "# nothing here\n" });
      expect(config.inputs).to.deep.equal([]);
    });
  });

  describe("config: $VAR substitution", () => {
    it("substitutes $VAR and ${VAR}, keeps $$ as a literal $ and leaves comment lines alone", () => {
      const config = load(
        {
          "agent.conf": '# listen on $NOT_SET_ANYWHERE\n[http]\nlisten = "${PK_HOST}:$PK_PORT"\n',
          "pg.conf": '[[inputs.pushgateway]]\nmeasurement_name = "cost$$x"\ntags = { who = "$PK_WHO" }\n',
        },
        { PK_HOST: "10.0.0.1", PK_PORT: "9600", PK_WHO: "ops" },
      );
      expect(config.sections.http.listen.value).to.equal("10.0.0.1:9600");
      expect(inputsOf(config)[0].settings.measurement_name.value).to.equal("cost$x");
      expect(inputsOf(config)[0].settings.tags.value).to.deep.equal({ who: "ops" });
    });

    it("an unset variable is an error naming the file, the line and the variable", () => {
      const msg = loadError({ "sub/vars.conf": '# $ALSO_UNSET is fine in a comment\n[[inputs.pushgateway]]\nroute_prefix = "${PK_UNSET_PREFIX}"\n' });
      expect(msg).to.include(path.join("sub", "vars.conf"));
      expect(msg).to.include("line 3");
      expect(msg).to.include("PK_UNSET_PREFIX");
      expect(msg).not.to.include("ALSO_UNSET");
    });

    it("an unset variable in agent.conf names agent.conf", () => {
      const msg = loadError({ "agent.conf": "[log]\nlevel = \"$PK_LEVEL\"\n" });
      expect(msg).to.match(/agent\.conf line 2\b/);
      expect(msg).to.include("PK_LEVEL");
    });
  });

  describe("config: errors in files", () => {
    it("unknown key in an agent section names file, table and key, with a did-you-mean", () => {
      const msg = loadError({ "agent.conf": '[http]\nlistn = "127.0.0.1:1"\n' });
      expect(msg).to.match(/agent\.conf/);
      expect(msg).to.include("[http]");
      expect(msg).to.include('unknown key "listn"');
      expect(msg).to.include('did you mean "listen"');
    });

    it("unknown key in an input table names file, table and key, with a did-you-mean", () => {
      const msg = loadError({ "inputs/pg-main.conf": '[[inputs.pushgateway]]\nhonour_timestamps = true\n' });
      expect(msg).to.include(path.join("inputs", "pg-main.conf"));
      expect(msg).to.include("inputs.pushgateway");
      expect(msg).to.include('unknown key "honour_timestamps"');
      expect(msg).to.include('did you mean "honor_timestamps"');
    });

    it("an unknown key far from every known key gets no did-you-mean", () => {
      const msg = loadError({ "agent.conf": "[log]\ncompletely_different = 1\n" });
      expect(msg).to.include('unknown key "completely_different"');
      expect(msg).not.to.include("did you mean");
    });

    it("names which of several instances is wrong", () => {
      const msg = loadError({ "multi.conf": "[[inputs.pushgateway]]\n[[inputs.pushgateway]]\nroute_prefx = \"/x\"\n" });
      expect(msg).to.include("multi.conf");
      expect(msg).to.include("#2");
      expect(msg).to.include('"route_prefx"');
    });

    it("wrong type names file, table and key and the expected type", () => {
      const msg = loadError({ "agent.conf": "[http]\nlisten = 9529\n" });
      expect(msg).to.match(/agent\.conf/);
      expect(msg).to.include("[http]");
      expect(msg).to.include('key "listen"');
      expect(msg).to.include("expected a string");

      const msg2 = loadError({ "pg.conf": '[[inputs.pushgateway]]\nhonor_timestamps = "yes"\n' });
      expect(msg2).to.include("pg.conf");
      expect(msg2).to.include("inputs.pushgateway");
      expect(msg2).to.include('key "honor_timestamps"');
      expect(msg2).to.include("expected a boolean");
    });

    it("bad values name file, table and key", () => {
      const level = loadError({ "agent.conf": '[log]\nlevel = "loud"\n' });
      expect(level).to.include("[log]");
      expect(level).to.include('key "level"');
      expect(level).to.include('"loud"');

      const listen = loadError({ "agent.conf": '[http]\nlisten = "localhost"\n' });
      expect(listen).to.include('key "listen"');
      expect(listen).to.include("host:port");

      const timeout = loadError({ "agent.conf": '[agent]\nshutdown_timeout = "10 parsecs"\n' });
      expect(timeout).to.include("[agent]");
      expect(timeout).to.include('key "shutdown_timeout"');
      expect(timeout).to.include("duration");

      const prefix = loadError({ "pg.conf": '[[inputs.pushgateway]]\nroute_prefix = "v1/"\n' });
      expect(prefix).to.include("pg.conf");
      expect(prefix).to.include('key "route_prefix"');

      const size = loadError({ "pg.conf": '[[inputs.pushgateway]]\nmax_body_bytes = "lots"\n' });
      expect(size).to.include('key "max_body_bytes"');
      expect(size).to.include("byte size");

      const batch = loadError({ "agent.conf": "[[sinks.stdout]]\nbatch_points = 0\n" });
      expect(batch).to.include("sinks.stdout");
      expect(batch).to.include('key "batch_points"');
      expect(batch).to.include("at least 1");
    });

    it("unknown input names the file and the known inputs", () => {
      const msg = loadError({ "cpu.conf": "[[inputs.cpu]]\n" });
      expect(msg).to.include("cpu.conf");
      expect(msg).to.include('unknown input "cpu"');
      expect(msg).to.include("pushgateway");
    });

    it("a misspelt input gets a did-you-mean", () => {
      const msg = loadError({ "pg.conf": "[[inputs.pushgatway]]\n" });
      expect(msg).to.include('unknown input "pushgatway"');
      expect(msg).to.include('did you mean "pushgateway"');
    });

    it("unknown sink names agent.conf and the known sinks", () => {
      const msg = loadError({ "agent.conf": "[[sinks.kafka]]\n" });
      expect(msg).to.match(/agent\.conf/);
      expect(msg).to.include('unknown sink "kafka"');
      expect(msg).to.include("stdout");
      expect(msg).to.include("file");
    });

    it("the file sink requires path", () => {
      const msg = loadError({ "agent.conf": "[[sinks.file]]\nbatch_points = 5\n" });
      expect(msg).to.match(/agent\.conf/);
      expect(msg).to.include("sinks.file");
      expect(msg).to.include('"path" is required');
    });

    it("the file sink rejects an empty path", () => {
      const msg = loadError({ "agent.conf": '[[sinks.file]]\npath = ""\n' });
      expect(msg).to.include('key "path"');
      expect(msg).to.include("must not be empty");
    });

    it("unknown table in agent.conf, with a did-you-mean", () => {
      const msg = loadError({ "agent.conf": '[htpp]\nlisten = "127.0.0.1:1"\n' });
      expect(msg).to.match(/agent\.conf/);
      expect(msg).to.include('unknown table "htpp"');
      expect(msg).to.include('did you mean "http"');
    });

    it("unknown table in an input file (agent settings belong in agent.conf)", () => {
      const msg = loadError({ "extra.conf": '[http]\nlisten = "127.0.0.1:1"\n' });
      expect(msg).to.include("extra.conf");
      expect(msg).to.include('unknown table "http"');
    });

    it("sinks in an input file are an unknown table", () => {
      const msg = loadError({ "extra.conf": "[[sinks.stdout]]\n" });
      expect(msg).to.include("extra.conf");
      expect(msg).to.include('unknown table "sinks"');
    });

    it("an input that is not a table is an error naming it", () => {
      const msg = loadError({ "odd.conf": "[inputs]\npushgateway = 5\n" });
      expect(msg).to.include("odd.conf");
      expect(msg).to.include("inputs.pushgateway");
    });

    it("a TOML syntax error names the file and the line", () => {
      const msg = loadError({ "broken.conf": "# first line\n[[inputs.pushgateway]]\nroute_prefix = \n" });
      expect(msg).to.include("broken.conf");
      expect(msg).to.include("TOML syntax error");
      expect(msg).to.match(/line 3\b/);

      const msg2 = loadError({ "agent.conf": '[http]\n\n\nlisten = "a" "b"\n' });
      expect(msg2).to.match(/agent\.conf/);
      expect(msg2).to.match(/line 4\b/);
    });
  });

  describe("config: agent options from the environment", () => {
    it("ENV_HTTP_LISTEN and ENV_LOG_LEVEL win over agent.conf and are recorded as env", () => {
      const config = load(
        { "agent.conf": '[http]\nlisten = "127.0.0.1:1111"\n[log]\nlevel = "warn"\nformat = "json"\n' },
        { ENV_HTTP_LISTEN: "0.0.0.0:2222", ENV_LOG_LEVEL: "debug" },
      );
      expect(config.sections.http.listen).to.deep.equal({ value: "0.0.0.0:2222", source: { kind: "env", name: "ENV_HTTP_LISTEN" } });
      expect(config.sections.log.level).to.deep.equal({ value: "debug", source: { kind: "env", name: "ENV_LOG_LEVEL" } });
      expect(config.sections.log.format.value).to.equal("json");
      expect(config.sections.log.format.source.kind).to.equal("file");
    });

    it("every agent option has an ENV_<SECTION>_<KEY> variable", () => {
      const config = load(
        {},
        {
          ENV_AGENT_SHUTDOWN_TIMEOUT: "2s",
          ENV_HTTP_REQUEST_TIMEOUT: "90s",
          ENV_HTTP_HEADERS_TIMEOUT: "5s",
          ENV_HTTP_KEEP_ALIVE_TIMEOUT: "1s",
          ENV_LOG_FORMAT: "pretty",
        },
      );
      expect(config.sections.agent.shutdown_timeout).to.deep.equal({ value: 2000, source: { kind: "env", name: "ENV_AGENT_SHUTDOWN_TIMEOUT" } });
      expect(config.sections.http.request_timeout.value).to.equal(90_000);
      expect(config.sections.http.headers_timeout.value).to.equal(5000);
      expect(config.sections.http.keep_alive_timeout.value).to.equal(1000);
      expect(config.sections.log.format).to.deep.equal({ value: "pretty", source: { kind: "env", name: "ENV_LOG_FORMAT" } });
    });

    it("a bad agent variable is an error naming the variable", () => {
      expect(() => load({}, { ENV_LOG_LEVEL: "chatty" })).to.throw(ConfigError, /^ENV_LOG_LEVEL: .*"chatty"/);
      expect(() => load({}, { ENV_HTTP_LISTEN: "nowhere" })).to.throw(ConfigError, /^ENV_HTTP_LISTEN: /);
      expect(() => load({}, { ENV_AGENT_SHUTDOWN_TIMEOUT: "soon" })).to.throw(ConfigError, /^ENV_AGENT_SHUTDOWN_TIMEOUT: .*duration/);
      expect(() => load({}, { ENV_AGENT_SHUTDOWN_TIMEOUT: "1ms" })).to.throw(ConfigError, /^ENV_AGENT_SHUTDOWN_TIMEOUT: must be at least/);
    });

    it("renderEffective shows the source of every value", () => {
      const config = load(
        { "agent.conf": '[log]\nlevel = "warn"\n', "pg.conf": '[[inputs.pushgateway]]\nroute_prefix = "/p"\n' },
        { ENV_HTTP_LISTEN: "0.0.0.0:9529", ENV_INPUT_PUSHGATEWAY_HONOR_TIMESTAMPS: "false" },
      );
      const text = render(config);
      expect(text).to.match(/^ {2}listen = "0\.0\.0\.0:9529" +# env ENV_HTTP_LISTEN$/m);
      expect(text).to.match(/^ {2}level = "warn" +# file \S*agent\.conf$/m);
      expect(text).to.match(/^ {2}format = "auto" +# default$/m);
      expect(text).to.match(/^\[\[inputs\.pushgateway\]\] +# from \S*pg\.conf$/m);
      expect(text).to.match(/^ {2}route_prefix = "\/p" +# file \S*pg\.conf$/m);
      expect(text).to.match(/^ {2}honor_timestamps = false +# env ENV_INPUT_PUSHGATEWAY_HONOR_TIMESTAMPS$/m);
      expect(text).to.match(/^ {2}max_body_bytes = "16MiB" +# default$/m);
      expect(text).to.match(/^\[\[sinks\.stdout\]\] +# from default/m);
    });

    it("renderEffective says when no input is enabled", () => {
      expect(render(load())).to.include("no inputs enabled");
      expect(render(load({ "pg.conf": "[[inputs.pushgateway]]\n" }))).not.to.include("no inputs enabled");
    });
  });

  describe("config: ENV_DEFAULT_ENABLED_INPUTS", () => {
    it("enables a listed input with its defaults", () => {
      const config = load({}, { ENV_DEFAULT_ENABLED_INPUTS: "pushgateway" });
      const list = inputsOf(config);
      expect(list).to.have.length(1);
      expect(list[0].origin).to.equal("ENV_DEFAULT_ENABLED_INPUTS");
      expect(list[0].settings.route_prefix).to.deep.equal({ value: "", source: { kind: "default" } });
      expect(list[0].settings.honor_timestamps.value).to.equal(true);
    });

    it("accepts comma and space separators and warns about unknown names", () => {
      const config = load({}, { ENV_DEFAULT_ENABLED_INPUTS: " cpu, pushgateway  mem" });
      expect(inputsOf(config)).to.have.length(1);
      expect(config.warnings.filter((w) => w.includes('unknown input "cpu"'))).to.have.length(1);
      expect(config.warnings.filter((w) => w.includes('unknown input "mem"'))).to.have.length(1);
    });

    it("an unknown name is a warning, not an error, also with a minus", () => {
      const config = load({}, { ENV_DEFAULT_ENABLED_INPUTS: "-disk" });
      expect(config.inputs).to.deep.equal([]);
      expect(config.warnings.some((w) => w.includes('"disk"'))).to.equal(true);
    });

    it("a conf file for the input wins over the defaults", () => {
      const config = load({ "pg.conf": '[[inputs.pushgateway]]\nroute_prefix = "/from-file"\n' }, { ENV_DEFAULT_ENABLED_INPUTS: "pushgateway" });
      const list = inputsOf(config);
      expect(list).to.have.length(1);
      expect(list[0].settings.route_prefix.value).to.equal("/from-file");
    });

    it("-name disables the input, also one a conf file enables", () => {
      const config = load({ "pg.conf": "[[inputs.pushgateway]]\n[[inputs.pushgateway]]\nroute_prefix = \"/b\"\n" }, { ENV_DEFAULT_ENABLED_INPUTS: "-pushgateway" });
      expect(config.inputs).to.deep.equal([]);
      expect(config.warnings.some((w) => w.includes('"pushgateway"') && w.includes("disabled"))).to.equal(true);
    });

    it("-name wins over name in the same list", () => {
      const config = load({}, { ENV_DEFAULT_ENABLED_INPUTS: "pushgateway,-pushgateway" });
      expect(config.inputs).to.deep.equal([]);
    });

    it("a near miss of a known input is an error with a did-you-mean, also with a minus", () => {
      expect(loadError({}, { ENV_DEFAULT_ENABLED_INPUTS: "cpu,pushgatway" })).to.equal(
        'ENV_DEFAULT_ENABLED_INPUTS: unknown input "pushgatway" (did you mean "pushgateway"?); known: pushgateway',
      );
      expect(loadError({}, { ENV_DEFAULT_ENABLED_INPUTS: "-pushgateay" })).to.include('did you mean "pushgateway"?');
    });
  });

  describe("config: every ENV_ variable of pushkit's must name a setting", () => {
    const cases: [string, string][] = [
      ["ENV_HTTP_LISTN", "ENV_HTTP_LISTEN"],
      ["ENV_LOG_LEVL", "ENV_LOG_LEVEL"],
      ["ENV_INPUT_PUSHGATEWAYY_ROUTE_PREFIX", "ENV_INPUT_PUSHGATEWAY_ROUTE_PREFIX"],
      ["ENV_AGENT_SHUTDOWN_TIMOUT", "ENV_AGENT_SHUTDOWN_TIMEOUT"],
      ["ENV_SINK", "ENV_SINKS"],
      ["ENV_DATA_DIRS", "ENV_DATA_DIR"],
      ["ENV_GLOBAL_TAG", "ENV_GLOBAL_TAGS"],
      ["ENV_HTPP_LISTEN", "ENV_HTTP_LISTEN"],
      ["ENV_DEFAULT_ENABLED_INPUT", "ENV_DEFAULT_ENABLED_INPUTS"],
    ];
    for (const [typo, meant] of cases) {
      it(`${typo} stops start-up, naming ${meant}`, () => {
        expect(loadError({}, { [typo]: "x" })).to.equal(`environment variable ${typo} is not a pushkit setting (did you mean ${meant}?)`);
      });
    }

    it("a variable under an owned prefix far from any setting lists the settings of that prefix", () => {
      const msg = loadError({}, { ENV_HTTP_TLS_CERTIFICATE_FILE: "/x" });
      expect(msg).to.match(/^environment variable ENV_HTTP_TLS_CERTIFICATE_FILE is not a pushkit setting \(pushkit reads ENV_HTTP_LISTEN, /);
    });

    it("leaves other ENV_ variables and the settings themselves alone", () => {
      const config = load({}, { ENV_K8S_NODE_NAME: "n1", ENV_SOMETHING_ELSE: "x", ENV_HTTP_LISTEN: "0.0.0.0:9529", ENV_CONF_DIR: "/etc/pushkit", ENV_INPUTS: "" });
      expect(config.sections.http.listen.value).to.equal("0.0.0.0:9529");
    });
  });

  describe("config: global tags", () => {
    it("come from ENV_GLOBAL_TAGS as k=v pairs", () => {
      const config = load({}, { ENV_GLOBAL_TAGS: "node=n1, cluster=prod" });
      expect(config.sections.agent.global_tags).to.deep.equal({ value: { node: "n1", cluster: "prod" }, source: { kind: "env", name: "ENV_GLOBAL_TAGS" } });
    });

    it("come from [agent] global_tags, and the environment wins", () => {
      const files = { "agent.conf": '[agent]\nglobal_tags = { node = "file", zone = "a" }\n' };
      expect(load(files).sections.agent.global_tags.value).to.deep.equal({ node: "file", zone: "a" });
      expect(load(files, { ENV_GLOBAL_TAGS: "node=env" }).sections.agent.global_tags.value).to.deep.equal({ node: "env" });
    });

    it("refuse a tag name that is not a label name", () => {
      expect(loadError({}, { ENV_GLOBAL_TAGS: "node.name=n1" })).to.match(/^ENV_GLOBAL_TAGS: tag name "node.name" is not a valid label name/);
      expect(loadError({}, { ENV_GLOBAL_TAGS: "node" })).to.match(/^ENV_GLOBAL_TAGS: expected "key=value" pairs/);
    });
  });

  describe("config: ENV_INPUT_<NAME>_<OPTION>", () => {
    it("overrides the option on every instance and records the variable", () => {
      const config = load(
        { "pg.conf": '[[inputs.pushgateway]]\nroute_prefix = "/a"\n[[inputs.pushgateway]]\nroute_prefix = "/b"\njob_as_measurement = true\n' },
        { ENV_INPUT_PUSHGATEWAY_JOB_AS_MEASUREMENT: "no", ENV_INPUT_PUSHGATEWAY_MEASUREMENT_NAME: "prom" },
      );
      const list = inputsOf(config);
      expect(list).to.have.length(2);
      for (const i of list) {
        expect(i.settings.job_as_measurement).to.deep.equal({ value: false, source: { kind: "env", name: "ENV_INPUT_PUSHGATEWAY_JOB_AS_MEASUREMENT" } });
        expect(i.settings.measurement_name).to.deep.equal({ value: "prom", source: { kind: "env", name: "ENV_INPUT_PUSHGATEWAY_MEASUREMENT_NAME" } });
      }
      expect(list.map((i) => i.settings.route_prefix.value)).to.deep.equal(["/a", "/b"]);
    });

    it("applies to an input enabled by ENV_DEFAULT_ENABLED_INPUTS, typed per option", () => {
      const config = load(
        {},
        {
          ENV_DEFAULT_ENABLED_INPUTS: "pushgateway",
          ENV_INPUT_PUSHGATEWAY_ROUTE_PREFIX: "/v1/pushgateway",
          ENV_INPUT_PUSHGATEWAY_HONOR_TIMESTAMPS: "0",
          ENV_INPUT_PUSHGATEWAY_KEEP_EXIST_METRIC_NAME: "on",
          ENV_INPUT_PUSHGATEWAY_MAX_BODY_BYTES: "2MiB",
          ENV_INPUT_PUSHGATEWAY_MAX_DECOMPRESSED_BYTES: "1000",
          ENV_INPUT_PUSHGATEWAY_TAGS: "site=eu, rack=r1",
        },
      );
      const s = inputsOf(config)[0].settings;
      expect(s.route_prefix.value).to.equal("/v1/pushgateway");
      expect(s.honor_timestamps.value).to.equal(false);
      expect(s.keep_exist_metric_name.value).to.equal(true);
      expect(s.max_body_bytes.value).to.equal(2 * 1024 * 1024);
      expect(s.max_decompressed_bytes.value).to.equal(1000);
      expect(s.tags.value).to.deep.equal({ site: "eu", rack: "r1" });
      expect(s.tags.source).to.deep.equal({ kind: "env", name: "ENV_INPUT_PUSHGATEWAY_TAGS" });
    });

    it("a bad boolean is an error naming the variable", () => {
      expect(() => load({ "pg.conf": "[[inputs.pushgateway]]\n" }, { ENV_INPUT_PUSHGATEWAY_HONOR_TIMESTAMPS: "maybe" })).to.throw(
        ConfigError,
        /^ENV_INPUT_PUSHGATEWAY_HONOR_TIMESTAMPS: expected a boolean.*"maybe"/,
      );
    });

    it("a bad number is an error naming the variable", () => {
      expect(() => load({ "pg.conf": "[[inputs.pushgateway]]\n" }, { ENV_INPUT_PUSHGATEWAY_MAX_BODY_BYTES: "12 apples" })).to.throw(
        ConfigError,
        /^ENV_INPUT_PUSHGATEWAY_MAX_BODY_BYTES: .*"12 apples"/,
      );
      expect(() => load({ "pg.conf": "[[inputs.pushgateway]]\n" }, { ENV_INPUT_PUSHGATEWAY_MAX_BODY_BYTES: "0" })).to.throw(
        ConfigError,
        /^ENV_INPUT_PUSHGATEWAY_MAX_BODY_BYTES: must be at least 1/,
      );
    });

    it("a bad value is an error naming the variable", () => {
      expect(() => load({ "pg.conf": "[[inputs.pushgateway]]\n" }, { ENV_INPUT_PUSHGATEWAY_ROUTE_PREFIX: "no-slash" })).to.throw(
        ConfigError,
        /^ENV_INPUT_PUSHGATEWAY_ROUTE_PREFIX: /,
      );
      expect(() => load({}, { ENV_INPUT_PUSHGATEWAY_TAGS: "novalue" })).to.throw(ConfigError, /^ENV_INPUT_PUSHGATEWAY_TAGS: /);
    });

    it("an unknown option variable is an error naming it and listing the known ones", () => {
      const run = () => load({ "pg.conf": "[[inputs.pushgateway]]\n" }, { ENV_INPUT_PUSHGATEWAY_ROUTEPREFIX: "/x" });
      expect(run).to.throw(ConfigError, /^ENV_INPUT_PUSHGATEWAY_ROUTEPREFIX: /);
      expect(run).to.throw(ConfigError, /ENV_INPUT_PUSHGATEWAY_ROUTE_PREFIX/);
    });
  });

  describe("config: ENV_INPUTS", () => {
    it("holds whole TOML input tables, several instances", () => {
      const config = load(
        {},
        { ENV_INPUTS: '[[inputs.pushgateway]]\nroute_prefix = "/one"\n[[inputs.pushgateway]]\nroute_prefix = "/two"\nhonor_timestamps = false\n' },
      );
      const list = inputsOf(config);
      expect(list.map((i) => i.settings.route_prefix.value)).to.deep.equal(["/one", "/two"]);
      expect(list[1].settings.honor_timestamps.value).to.equal(false);
      expect(list[0].settings.honor_timestamps.value).to.equal(true);
      expect(list[0].origin).to.equal("ENV_INPUTS");
    });

    it("adds to the instances of conf files", () => {
      const config = load({ "pg.conf": '[[inputs.pushgateway]]\nroute_prefix = "/file"\n' }, { ENV_INPUTS: '[inputs.pushgateway]\nroute_prefix = "/env"\n' });
      expect(inputsOf(config).map((i) => i.settings.route_prefix.value)).to.have.members(["/file", "/env"]);
    });

    it("records a value set in ENV_INPUTS as coming from the environment", () => {
      const config = load({}, { ENV_INPUTS: '[[inputs.pushgateway]]\nroute_prefix = "/env"\n' });
      const s = inputsOf(config)[0].settings;
      expect(s.route_prefix.source).to.deep.equal({ kind: "env", name: "ENV_INPUTS" });
      expect(s.measurement_name.source).to.deep.equal({ kind: "default" });
      expect(render(config)).to.match(/^ {2}route_prefix = "\/env" +# env ENV_INPUTS$/m);
    });

    it("errors in ENV_INPUTS name ENV_INPUTS", () => {
      expect(() => load({}, { ENV_INPUTS: "[[inputs.pushgateway]]\nroute_prfix = 1\n" })).to.throw(ConfigError, /^ENV_INPUTS.*unknown key "route_prfix"/);
      expect(() => load({}, { ENV_INPUTS: "[[inputs.cpu]]\n" })).to.throw(ConfigError, /^ENV_INPUTS.*unknown input "cpu"/);
      expect(() => load({}, { ENV_INPUTS: "[http]\n" })).to.throw(ConfigError, /^ENV_INPUTS.*unknown table "http"/);
      expect(() => load({}, { ENV_INPUTS: "[[inputs.pushgateway]\n" })).to.throw(ConfigError, /^ENV_INPUTS: TOML syntax error/);
    });
  });

  describe("config: ENV_SINKS", () => {
    it("replaces the sinks of agent.conf, in order, recorded as env", () => {
      const config = load(
        { "agent.conf": '[[sinks.file]]\npath = "/tmp/from-conf.lp"\n' },
        { ENV_SINKS: "file:///var/tmp/pushkit/points.lp, stdout://" },
      );
      expect(config.sinks.map((s) => s.type)).to.deep.equal(["file", "stdout"]);
      expect(config.sinks[0].settings.path).to.deep.equal({ value: "/var/tmp/pushkit/points.lp", source: { kind: "env", name: "ENV_SINKS" } });
      expect(config.sinks[0].origin).to.equal("ENV_SINKS");
      expect(config.sinks.some((s) => s.settings.path?.value === "/tmp/from-conf.lp")).to.equal(false);
    });

    it("an empty ENV_SINKS leaves the conf sinks alone", () => {
      const config = load({ "agent.conf": '[[sinks.file]]\npath = "/tmp/from-conf.lp"\n' }, { ENV_SINKS: "  " });
      expect(config.sinks.map((s) => s.type)).to.deep.equal(["file"]);
    });

    it("an unknown scheme is an error listing the known ones", () => {
      const run = () => load({}, { ENV_SINKS: "kafka://broker:9092" });
      expect(run).to.throw(ConfigError, /^ENV_SINKS: unknown sink scheme "kafka:\/\/"/);
      expect(run).to.throw(ConfigError, /stdout:\/\//);
    });

    it("something that is not a URL is an error", () => {
      expect(() => load({}, { ENV_SINKS: "stdout://,just-a-word" })).to.throw(ConfigError, /^ENV_SINKS: "just-a-word" is not a URL/);
    });

    it("a file URL with a host (a relative path) is an error", () => {
      expect(() => load({}, { ENV_SINKS: "file://relative/points.lp" })).to.throw(ConfigError, /^ENV_SINKS: .*file:\/\/relative\/points\.lp/);
    });
  });
});
