// Writes points to standard output as line protocol: the default sink, so the agent works
// with no backend at all (logs go to stderr and never mix with it).
import { encodeBatch } from "../../../core/lineprotocol.ts";
import { defineSink } from "../../../core/plugin.ts";

export default defineSink({
  name: "stdout",
  description: "Line protocol on standard output",
  options: {},
  urlSchemes: ["stdout"],
  fromUrl: () => ({}),
  create() {
    return {
      write(points) {
        const text = encodeBatch(points);
        if (text === "") return Promise.resolve();
        return new Promise<void>((resolve, reject) => {
          process.stdout.write(text, (err) => (err ? reject(err) : resolve()));
        });
      },
      async close() {},
    };
  },
});
