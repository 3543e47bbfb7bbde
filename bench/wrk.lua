-- One benchmark case for wrk. bench/run.py writes the case as a Lua table (method, path,
-- headers, body, and for requests that must each be different, a file of items and a body
-- template with "{item}") and names it in BENCH_CASE. BENCH_ITEMS_OFFSET skips the items
-- earlier runs used up (codes and refresh tokens work once, logins are throttled per account).
--
-- At the end one line is printed: "BENCH_RESULT {json}" with the latency percentiles
-- (microseconds), the request count and duration, the socket errors, the count of each
-- response status and how many requests were sent (items used).

local case = dofile(os.getenv("BENCH_CASE"))

-- Per thread (globals, so done() can read them through thread:get).
statuses = {}
sent = 0
exhausted = 0

local items = nil
local next_item = 1
local fixed_request = nil

function init(args)
  if case.items_file then
    items = {}
    local skip = tonumber(os.getenv("BENCH_ITEMS_OFFSET") or "0")
    local seen = 0
    for line in io.lines(case.items_file) do
      seen = seen + 1
      if seen > skip and line ~= "" then
        items[#items + 1] = line
      end
    end
  else
    fixed_request = wrk.format(case.method, case.path, case.headers, case.body)
  end
end

function request()
  sent = sent + 1
  if fixed_request then
    return fixed_request
  end
  local item = items[next_item]
  if item == nil then
    -- Out of items: repeat the last one (the server refuses it, and run.py reports the
    -- case as spoiled) rather than stop the load half-way.
    exhausted = exhausted + 1
    item = items[#items] or "none"
  else
    next_item = next_item + 1
  end
  local body = string.gsub(case.body_template, "{item}", function() return item end)
  return wrk.format(case.method, case.path, case.headers, body)
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local counts = {}
  local total_sent = 0
  local total_exhausted = 0
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses") or {}) do
      counts[status] = (counts[status] or 0) + count
    end
    total_sent = total_sent + (thread:get("sent") or 0)
    total_exhausted = total_exhausted + (thread:get("exhausted") or 0)
  end
  local parts = {}
  for status, count in pairs(counts) do
    parts[#parts + 1] = string.format('"%s":%d', status, count)
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,'
      .. '"max_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"sent":%d,"exhausted":%d,"statuses":{%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max, errors.connect, errors.read, errors.write,
    errors.status, errors.timeout, total_sent, total_exhausted, table.concat(parts, ",")))
end
