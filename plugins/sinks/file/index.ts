// Appends points as line protocol to a file.
import { mkdir, open, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { opt } from "../../../core/options.ts";
import { defineSink } from "../../../core/plugin.ts";

export default defineSink({
  name: "file",
  description: "Line protocol appended to a file",
  options: {
    path: opt.string({
      default: "",
      required: true,
      description: "File the points are appended to (created with its directory if missing).",
      check: (v) => (v === "" ? "must not be empty" : undefined),
    }),
  },
  urlSchemes: ["file"],
  // Appending to a file is cheap per call: large batches keep up with large pushes.
  deliveryDefaults: { batch_points: 100_000 },
  fromUrl(url) {
    if (url.host !== "") throw new Error(`expected file:///absolute/path, got host "${url.host}"`);
    return { path: fileURLToPath(url) };
  },
  create(options) {
    let handle: FileHandle | undefined;
    return {
      async start() {
        await mkdir(path.dirname(path.resolve(options.path)), { recursive: true });
        handle = await open(options.path, "a");
      },
      async write(batch) {
        const chunks = batch.lineProtocol();
        // Stay well below the system's limit of buffers per writev call (IOV_MAX, 1024).
        for (let i = 0; i < chunks.length; i += 512) await handle!.writev(chunks.slice(i, i + 512));
      },
      async close() {
        await handle?.close();
        handle = undefined;
      },
    };
  },
});
