#!/usr/bin/env node
// Command line: pushkit [run] [--conf-dir DIR] | check-config | samples | help
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { builtinRegistry } from "../plugins/index.ts";
import { startAgent } from "./agent.ts";
import { loadConfig, sinkSchema, values, type AgentConfig } from "./config.ts";
import type { HttpOptions } from "./http.ts";
import { HttpSecurity } from "./security/http-security.ts";
import { createLogger } from "./log.ts";
import { ConfigError } from "./options.ts";
import { renderEffective, renderSample } from "./render.ts";

const USAGE = `usage: pushkit [command] [--conf-dir DIR]

commands:
  run            run the agent (default)
  check-config   load and validate the configuration, print it with the source of every value
  samples        write conf.d/samples/<input>.conf.sample for every input
  help           show this text

--conf-dir DIR   configuration directory (default: $ENV_CONF_DIR or ./conf.d)
`;

interface Args {
  command: string;
  confDir: string;
}

function parseArgs(argv: string[]): Args {
  let command: string | undefined;
  let confDir = process.env.ENV_CONF_DIR || "./conf.d";
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--conf-dir") {
      if (i + 1 >= argv.length) throw new ConfigError("--conf-dir needs a directory");
      confDir = argv[++i];
    } else if (a.startsWith("--conf-dir=")) {
      confDir = a.slice("--conf-dir=".length);
    } else if (a === "-h" || a === "--help") {
      command = "help";
    } else if (!a.startsWith("-") && command === undefined) {
      command = a;
    } else {
      throw new ConfigError(`unknown argument "${a}"\n\n${USAGE}`);
    }
  }
  return { command: command ?? "run", confDir };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const registry = builtinRegistry();
  const load = (): AgentConfig => loadConfig({ confDir: args.confDir, env: process.env, registry });

  switch (args.command) {
    case "help":
      process.stdout.write(USAGE);
      return 0;
    case "samples": {
      const dir = path.join(args.confDir, "samples");
      mkdirSync(dir, { recursive: true });
      for (const def of registry.inputs.values()) {
        const file = path.join(dir, `${def.name}.conf.sample`);
        writeFileSync(file, renderSample(def));
        process.stdout.write(`wrote ${file}\n`);
      }
      return 0;
    }
    case "check-config": {
      const config = load();
      process.stdout.write(
        renderEffective(
          config,
          (t) => registry.inputs.get(t)!.options,
          (t) => sinkSchema(registry.sinks.get(t)!),
        ),
      );
      const security = new HttpSecurity(values(config.sections.http) as HttpOptions, createLogger("silent", "json"));
      await security.load();
      process.stdout.write(`\n# HTTP security (files read and checked; secrets are never shown)\n${security.describe().map((l) => `#   ${l}\n`).join("")}`);
      for (const w of config.warnings) process.stderr.write(`warning: ${w}\n`);
      process.stdout.write("\nconfiguration OK\n");
      return 0;
    }
    case "run": {
      const config = load();
      const log = createLogger(config.sections.log.level.value as string, config.sections.log.format.value as string);
      for (const w of config.warnings) log.warn(w);
      const agent = await startAgent(config, registry, log);
      return new Promise<number>((resolve) => {
        let stopping = false;
        // Launchers such as tsx or npm relay a signal they also received: the first one stops
        // the agent, later ones are only logged (the shutdown is bounded by shutdown_timeout).
        const onSignal = (signal: string) => {
          if (stopping) {
            log.info({ signal }, "signal received while stopping; still stopping");
            return;
          }
          stopping = true;
          log.info({ signal }, "signal received");
          // The shutdown bounds each step; this bounds the whole, whatever hangs.
          const limit = (config.sections.agent.shutdown_timeout.value as number) + 2000;
          setTimeout(() => {
            log.error({ limitMs: limit }, "shutdown did not finish in time; exiting");
            resolve(1);
          }, limit).unref();
          agent.stop().then(
            (clean) => resolve(clean ? 0 : 1),
            (e) => {
              log.error({ err: e }, "shutdown failed");
              resolve(1);
            },
          );
        };
        process.on("SIGTERM", onSignal);
        process.on("SIGINT", onSignal);
      });
    }
    default:
      throw new ConfigError(`unknown command "${args.command}"\n\n${USAGE}`);
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    if (e instanceof ConfigError) process.stderr.write(`pushkit: ${e.message}\n`);
    else process.stderr.write(`pushkit: ${(e as Error)?.stack ?? e}\n`);
    process.exit(e instanceof ConfigError ? 2 : 1);
  },
);
