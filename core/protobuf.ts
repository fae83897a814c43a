// protobufjs as every schema of the process must see it: int64 fields as plain numbers (ms
// timestamps and counts fit in 2^53), not Long objects. protobufjs reads this global when a
// schema is parsed, so it is set here, once, before any importer can parse one; import
// protobufjs through this module.
import protobuf from "protobufjs";

protobuf.util.Long = undefined as unknown as typeof protobuf.util.Long;
protobuf.configure();

export default protobuf;
