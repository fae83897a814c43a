-- wrk script for the push benchmark: every request pushes the same
-- Prometheus text body to the URL given on wrk's command line (always the
-- same grouping key, so the server replaces one group over and over).
--
-- Environment:
--   PUSH_BODY_FILE  file holding the body to send (required)
--   PUSH_METHOD     PUT (default) or POST
--   PUSH_HEADERS    optional extra request headers, one "Name: value" per line
--                   (e.g. "Authorization: Basic ..."); unset or empty adds none
--
-- When the run ends, done() prints one line starting with "PUSHBENCH "
-- followed by a JSON object; the TypeScript harness parses only that line,
-- so wrk's human-readable output (including --latency) can stay as it is.

local body_file = os.getenv("PUSH_BODY_FILE")
if body_file == nil or body_file == "" then
  error("PUSH_BODY_FILE is not set")
end
local f = assert(io.open(body_file, "rb"))
local body = f:read("*a")
f:close()

wrk.method = os.getenv("PUSH_METHOD") or "PUT"
wrk.body = body
wrk.headers["Content-Type"] = "text/plain; version=0.0.4"

local extra_headers = os.getenv("PUSH_HEADERS")
if extra_headers ~= nil then
  for line in extra_headers:gmatch("[^\r\n]+") do
    local name, value = line:match("^%s*([^:%s]+)%s*:%s*(.-)%s*$")
    if name == nil then
      error("PUSH_HEADERS: expected \"Name: value\", got \"" .. line .. "\"")
    end
    wrk.headers[name] = value
  end
end

-- Each wrk thread runs its own Lua state; setup() runs in the main state and
-- remembers the threads so done() can collect their counters.
local threads = {}
function setup(thread)
  table.insert(threads, thread)
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
    for code, n in pairs(s) do
      by_status[code] = (by_status[code] or 0) + n
    end
  end
  local parts = {}
  for code, n in pairs(by_status) do
    table.insert(parts, string.format('"%s":%d', code, n))
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
