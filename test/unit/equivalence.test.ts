// The same data pushed as text 0.0.4, as delimited protobuf and as OpenMetrics gives the same
// points, for every metric type. Each case spells one set of metrics in the three formats the
// way a client writes them (counters named x_total, protobuf histograms without the +Inf
// bucket, OpenMetrics timestamps in seconds) and compares the converted points.
import { expect } from "chai";
import { Converter } from "../../plugins/formats/prometheus/convert.ts";
import { bodyFormat } from "../../plugins/formats/prometheus/mediatypes.ts";
import { parseBody } from "../../plugins/formats/prometheus/parse.ts";
import { encodePoint } from "../../core/lineprotocol.ts";
import { encodeFamilies, PROTOBUF_CONTENT_TYPE, type FamilyObject } from "../support/protobuf.ts";

const converter = new Converter({ measurement_name: "", job_as_measurement: false, keep_exist_metric_name: false, honor_timestamps: true, tags: {} });
const grouping = new Map([
  ["job", "eq"],
  ["instance", "i1"],
]);

function points(body: Buffer, contentType: string | undefined): string[] {
  const families = parseBody(body, bodyFormat(contentType, body));
  return converter.convert(families, grouping, 1n).map(encodePoint).sort();
}

interface Case {
  type: string;
  text: string;
  protobuf: FamilyObject[];
  openmetrics: string;
  /** The points all three give. */
  expected: string[];
}

const T = 1700000000000; // ms
const TNS = "1700000000000000000";

const cases: Case[] = [
  {
    type: "counter",
    text: `# HELP jobs_processed_total Jobs.\n# TYPE jobs_processed_total counter\njobs_processed_total{queue="a"} 12 ${T}\njobs_processed_total{queue="b"} 0 ${T}\n`,
    protobuf: [
      {
        name: "jobs_processed_total",
        help: "Jobs.",
        type: 0,
        metric: [
          { label: [{ name: "queue", value: "a" }], counter: { value: 12 }, timestamp_ms: T },
          { label: [{ name: "queue", value: "b" }], counter: { value: 0 }, timestamp_ms: T },
        ],
      },
    ],
    openmetrics: `# TYPE jobs_processed counter\n# HELP jobs_processed Jobs.\njobs_processed_total{queue="a"} 12 1700000000\njobs_processed_created{queue="a"} 1600000000\njobs_processed_total{queue="b"} 0 1700000000.000 # {trace_id="x"} 1 1699999999.5\n# EOF\n`,
    expected: [`jobs,instance=i1,job=eq,queue=a processed_total=12 ${TNS}`, `jobs,instance=i1,job=eq,queue=b processed_total=0 ${TNS}`],
  },
  {
    type: "gauge",
    text: `# TYPE room_temp_celsius gauge\nroom_temp_celsius{room="x"} -1.5 ${T}\nroom_temp_celsius{room="y"} 2e3 ${T}\n`,
    protobuf: [
      {
        name: "room_temp_celsius",
        type: 1,
        metric: [
          { label: [{ name: "room", value: "x" }], gauge: { value: -1.5 }, timestamp_ms: T },
          { label: [{ name: "room", value: "y" }], gauge: { value: 2000 }, timestamp_ms: T },
        ],
      },
    ],
    openmetrics: `# TYPE room_temp_celsius gauge\n# UNIT room_temp_celsius celsius\nroom_temp_celsius{room="x"} -1.5 1.7e9\nroom_temp_celsius{room="y"} 2000 1700000000\n# EOF\n`,
    expected: [`room,instance=i1,job=eq,room=x temp_celsius=-1.5 ${TNS}`, `room,instance=i1,job=eq,room=y temp_celsius=2000 ${TNS}`],
  },
  {
    type: "untyped / unknown",
    text: `build_things{v="1"} 3 ${T}\n`,
    protobuf: [{ name: "build_things", type: 3, metric: [{ label: [{ name: "v", value: "1" }], untyped: { value: 3 }, timestamp_ms: T }] }],
    openmetrics: `# TYPE build_things unknown\nbuild_things{v="1"} 3 1700000000\n# EOF\n`,
    expected: [`build,instance=i1,job=eq,v=1 things=3 ${TNS}`],
  },
  {
    type: "info (OpenMetrics) / gauge",
    text: `# TYPE app_build_info gauge\napp_build_info{version="1.2.3"} 1 ${T}\n`,
    protobuf: [{ name: "app_build_info", type: 1, metric: [{ label: [{ name: "version", value: "1.2.3" }], gauge: { value: 1 }, timestamp_ms: T }] }],
    openmetrics: `# TYPE app_build info\napp_build_info{version="1.2.3"} 1 1700000000\n# EOF\n`,
    expected: [`app,instance=i1,job=eq,version=1.2.3 build_info=1 ${TNS}`],
  },
  {
    type: "stateset (OpenMetrics) / gauge",
    text: `# TYPE disk_state gauge\ndisk_state{disk_state="ok"} 1 ${T}\ndisk_state{disk_state="full"} 0 ${T}\n`,
    protobuf: [
      {
        name: "disk_state",
        type: 1,
        metric: [
          { label: [{ name: "disk_state", value: "ok" }], gauge: { value: 1 }, timestamp_ms: T },
          { label: [{ name: "disk_state", value: "full" }], gauge: { value: 0 }, timestamp_ms: T },
        ],
      },
    ],
    openmetrics: `# TYPE disk_state stateset\ndisk_state{disk_state="ok"} 1 1700000000\ndisk_state{disk_state="full"} 0 1700000000\n# EOF\n`,
    expected: [`disk,disk_state=full,instance=i1,job=eq state=0 ${TNS}`, `disk,disk_state=ok,instance=i1,job=eq state=1 ${TNS}`],
  },
  {
    type: "summary",
    text: `# TYPE rpc_duration_seconds summary\nrpc_duration_seconds{quantile="0.5"} 0.25 ${T}\nrpc_duration_seconds{quantile="0.99"} 1.5 ${T}\nrpc_duration_seconds_sum 42.5 ${T}\nrpc_duration_seconds_count 100 ${T}\n`,
    protobuf: [
      {
        name: "rpc_duration_seconds",
        type: 2,
        metric: [{ summary: { sample_count: 100, sample_sum: 42.5, quantile: [{ quantile: 0.5, value: 0.25 }, { quantile: 0.99, value: 1.5 }] }, timestamp_ms: T }],
      },
    ],
    openmetrics: `# TYPE rpc_duration_seconds summary\nrpc_duration_seconds{quantile="0.5"} 0.25 1700000000\nrpc_duration_seconds{quantile="0.99"} 1.5 1700000000\nrpc_duration_seconds_sum 42.5 1700000000\nrpc_duration_seconds_count 100 1700000000\nrpc_duration_seconds_created 1600000000 1700000000\n# EOF\n`,
    expected: [
      `rpc,instance=i1,job=eq duration_seconds_count=100,duration_seconds_sum=42.5 ${TNS}`,
      `rpc,instance=i1,job=eq,quantile=0.5 duration_seconds=0.25 ${TNS}`,
      `rpc,instance=i1,job=eq,quantile=0.99 duration_seconds=1.5 ${TNS}`,
    ],
  },
  {
    type: "histogram",
    text: `# TYPE http_latency_seconds histogram\nhttp_latency_seconds_bucket{le="0.1"} 2 ${T}\nhttp_latency_seconds_bucket{le="1"} 5 ${T}\nhttp_latency_seconds_bucket{le="+Inf"} 6 ${T}\nhttp_latency_seconds_sum 3.25 ${T}\nhttp_latency_seconds_count 6 ${T}\n`,
    protobuf: [
      {
        name: "http_latency_seconds",
        type: 4,
        metric: [{ histogram: { sample_count: 6, sample_sum: 3.25, bucket: [{ upper_bound: 0.1, cumulative_count: 2 }, { upper_bound: 1, cumulative_count: 5 }] }, timestamp_ms: T }],
      },
    ],
    openmetrics: `# TYPE http_latency_seconds histogram\nhttp_latency_seconds_bucket{le="0.1"} 2 1700000000\nhttp_latency_seconds_bucket{le="1.0"} 5 1700000000 # {trace_id="t"} 0.5\nhttp_latency_seconds_bucket{le="+Inf"} 6 1700000000\nhttp_latency_seconds_sum 3.25 1700000000\nhttp_latency_seconds_count 6 1700000000\n# EOF\n`,
    expected: [
      `http,instance=i1,job=eq latency_seconds_count=6,latency_seconds_sum=3.25 ${TNS}`,
      `http,instance=i1,job=eq,le=+Inf latency_seconds_bucket=6 ${TNS}`,
      `http,instance=i1,job=eq,le=0.1 latency_seconds_bucket=2 ${TNS}`,
      `http,instance=i1,job=eq,le=1 latency_seconds_bucket=5 ${TNS}`,
    ],
  },
  {
    type: "gauge histogram",
    text: `# TYPE queue_size_items gaugehistogram\nqueue_size_items_bucket{le="10"} 4 ${T}\nqueue_size_items_bucket{le="+Inf"} 7 ${T}\nqueue_size_items_sum 50 ${T}\nqueue_size_items_count 7 ${T}\n`,
    protobuf: [{ name: "queue_size_items", type: 5, metric: [{ histogram: { sample_count: 7, sample_sum: 50, bucket: [{ upper_bound: 10, cumulative_count: 4 }] }, timestamp_ms: T }] }],
    openmetrics: `# TYPE queue_size_items gaugehistogram\nqueue_size_items_bucket{le="10"} 4 1700000000\nqueue_size_items_bucket{le="+Inf"} 7 1700000000\nqueue_size_items_gcount 7 1700000000\nqueue_size_items_gsum 50 1700000000\n# EOF\n`,
    expected: [
      `queue,instance=i1,job=eq size_items_count=7,size_items_sum=50 ${TNS}`,
      `queue,instance=i1,job=eq,le=+Inf size_items_bucket=7 ${TNS}`,
      `queue,instance=i1,job=eq,le=10 size_items_bucket=4 ${TNS}`,
    ],
  },
];

describe("the same data in every format gives the same points", () => {
  for (const c of cases) {
    describe(c.type, () => {
      it("as text 0.0.4", () => {
        expect(points(Buffer.from(c.text), "text/plain; version=0.0.4")).to.deep.equal([...c.expected].sort());
      });
      it("as delimited protobuf", () => {
        expect(points(encodeFamilies(...c.protobuf), PROTOBUF_CONTENT_TYPE)).to.deep.equal([...c.expected].sort());
      });
      it("as OpenMetrics, by Content-Type and by its # EOF line", () => {
        expect(points(Buffer.from(c.openmetrics), "application/openmetrics-text; version=1.0.0; charset=utf-8")).to.deep.equal([...c.expected].sort());
        expect(points(Buffer.from(c.openmetrics), undefined)).to.deep.equal([...c.expected].sort());
      });
    });
  }
});
