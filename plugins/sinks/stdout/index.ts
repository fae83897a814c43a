// Writes points to standard output as line protocol: the default sink, so the agent works
// with no backend at all (logs go to stderr and never mix with it).
import { defineSink } from "../../../core/plugin.ts";

export default defineSink({
  name: "stdout",
  description: "Line protocol on standard output",
  options: {},
  urlSchemes: ["stdout"],
  // Writing locally is cheap per call: large batches keep up with large pushes.
  deliveryDefaults: { batch_points: 100_000, flush_interval: 200 },
  fromUrl: () => ({}),
  create() {
    return {
      async write(batch) {
        for (const chunk of batch.lineProtocol()) {
          await new Promise<void>((resolve, reject) => process.stdout.write(chunk, (err) => (err ? reject(err) : resolve())));
        }
      },
      async close() {},
    };
  },
});
