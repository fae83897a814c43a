// Where the upstream text-format conformance corpus lives: in the repository, so that a clone
// with nothing beside it runs every test (see test/fixtures/conformance/README.md).
import path from "node:path";
import { fileURLToPath } from "node:url";

export const conformanceDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/conformance");
