// Appends points as line protocol to a file.
import { mkdir, open, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { encodeBatch } from "../../../core/lineprotocol.ts";
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
      async write(points) {
        const text = encodeBatch(points);
        if (text !== "") await handle!.appendFile(text);
      },
      async close() {
        await handle?.close();
        handle = undefined;
      },
    };
  },
});
