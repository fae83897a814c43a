// Inputs and sinks register here by name; the host looks them up by the names in the config.
import type { InputDefinition, SinkDefinition } from "./plugin.ts";

export class Registry {
  readonly inputs = new Map<string, InputDefinition>();
  readonly sinks = new Map<string, SinkDefinition>();

  addInput(def: InputDefinition<any>): this {
    if (this.inputs.has(def.name)) throw new Error(`input "${def.name}" is registered twice`);
    this.inputs.set(def.name, def);
    return this;
  }

  addSink(def: SinkDefinition<any>): this {
    if (this.sinks.has(def.name)) throw new Error(`sink "${def.name}" is registered twice`);
    this.sinks.set(def.name, def);
    return this;
  }

  sinkForScheme(scheme: string): SinkDefinition | undefined {
    for (const def of this.sinks.values()) if (def.urlSchemes.includes(scheme)) return def;
    return undefined;
  }
}
