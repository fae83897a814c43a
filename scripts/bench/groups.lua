-- wrk script for the groups benchmark: every request replaces one of the groups the harness
-- stored beforehand (grouping key /job/bench/instance/i<k>, k drawn at random from 0..N-1 with
-- a fixed seed, so every target gets the same sequence), with one of a few bodies of the same
-- shape whose values differ, taken in turn.
--
-- Environment:
--   GROUPS_N            number of stored groups N (required)
--   GROUPS_PATH_PREFIX  path before k, e.g. /metrics/job/bench/instance/i (required)
--   GROUPS_BODY_DIR     directory holding body-0.prom .. body-<B-1>.prom (required)
--   GROUPS_BODIES       B, the number of body files (required)
--   PUSH_METHOD         PUT (default) or POST
--
-- done() prints the same "PUSHBENCH {json}" summary line as push.lua (wrk.ts parses it).

local function need(name)
  local v = os.getenv(name)
  if v == nil or v == "" then
    error(name .. " is not set")
  end
  return v
end

local n = tonumber(need("GROUPS_N"))
local prefix = need("GROUPS_PATH_PREFIX")
local dir = need("GROUPS_BODY_DIR")
local bodies = {}
for i = 0, tonumber(need("GROUPS_BODIES")) - 1 do
  local f = assert(io.open(dir .. "/body-" .. i .. ".prom", "rb"))
  bodies[#bodies + 1] = f:read("*a")
  f:close()
end

wrk.method = os.getenv("PUSH_METHOD") or "PUT"
wrk.headers["Content-Type"] = "text/plain; version=0.0.4"

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

math.randomseed(12345)
local sent = 0

function request()
  sent = sent + 1
  local k = math.random(0, n - 1)
  return wrk.format(nil, prefix .. k, nil, bodies[(sent % #bodies) + 1])
end

-- Per-thread counters (globals, so thread:get() can read them).
non2xx = 0
statuses = {}

function response(status, headers, resp_body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    local key = tostring(status)
    statuses[key] = (statuses[key] or 0) + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  local by_status = {}
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non2xx") or 0)
    local s = t:get("statuses") or {}
    for code, c in pairs(s) do
      by_status[code] = (by_status[code] or 0) + c
    end
  end
  local parts = {}
  for code, c in pairs(by_status) do
    table.insert(parts, string.format('"%s":%d', code, c))
  end
  local e = summary.errors
  -- Latencies are in microseconds, as wrk records them.
  io.write(string.format(
    'PUSHBENCH {"duration_us":%d,"requests":%d,"bytes":%d,"non2xx":%d,' ..
    '"non2xx_by_status":{%s},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d}}\n',
    summary.duration, summary.requests, summary.bytes, bad,
    table.concat(parts, ","),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
