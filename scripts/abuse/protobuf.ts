// Protobuf written by hand for the replay: findings 6, 7 and 8 need what a schema library will
// not write (int64 max as a timestamp, a length prefix beyond 32 bits, spans whose offsets
// overflow). Field numbers from plugins/formats/prometheus/metrics.proto.

export const PROTOBUF_TYPE = 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';

export function varint(v: bigint | number): Buffer {
  let x = BigInt(v);
  if (x < 0n) x = BigInt.asUintN(64, x);
  const out: number[] = [];
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
  return Buffer.from(out);
}

function zigzag(v: bigint | number): bigint {
  const x = BigInt(v);
  return x >= 0n ? x << 1n : (-x << 1n) - 1n;
}

const key = (field: number, wire: number) => varint((field << 3) | wire);

export const pb = {
  varint: (field: number, v: bigint | number) => Buffer.concat([key(field, 0), varint(v)]),
  sint: (field: number, v: bigint | number) => Buffer.concat([key(field, 0), varint(zigzag(v))]),
  double: (field: number, v: number) => {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v);
    return Buffer.concat([key(field, 1), b]);
  },
  bytes: (field: number, v: Buffer) => Buffer.concat([key(field, 2), varint(v.length), v]),
  string: (field: number, v: string) => pb.bytes(field, Buffer.from(v)),
  message: (field: number, ...parts: Buffer[]) => pb.bytes(field, Buffer.concat(parts)),
};

const GAUGE = 1;
const HISTOGRAM = 4;

/** MetricFamily{name, type GAUGE, metric{gauge{value}, timestamp_ms}} (no length prefix). */
export function gaugeFamily(name: string, value: number, timestampMs?: bigint): Buffer {
  const metric = [pb.message(2, pb.double(1, value))];
  if (timestampMs !== undefined) metric.push(pb.varint(6, timestampMs));
  return Buffer.concat([pb.string(1, name), pb.varint(3, GAUGE), pb.message(4, ...metric)]);
}

/** A native histogram family: schema 0, the given positive spans and bucket deltas. */
export function nativeHistogramFamily(name: string, spans: { offset: number; length: number }[], deltas: number[], count: number, sum: number): Buffer {
  const h = [pb.varint(1, count), pb.double(2, sum), pb.sint(5, 0), pb.double(6, 0), pb.varint(7, 0)];
  for (const s of spans) h.push(pb.message(12, pb.sint(1, s.offset), pb.varint(2, s.length)));
  for (const d of deltas) h.push(pb.sint(13, d));
  return Buffer.concat([pb.string(1, name), pb.varint(3, HISTOGRAM), pb.message(4, pb.message(7, ...h))]);
}

/** A message with its varint length prefix, as a delimited push carries it. */
export function delimited(msg: Buffer, length: bigint | number = msg.length): Buffer {
  return Buffer.concat([varint(length), msg]);
}
