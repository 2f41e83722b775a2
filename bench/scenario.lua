-- wrk script for bench/run.py: `wrk ... -s bench/scenario.lua URL -- SCENARIO DATAFILE`.
-- SCENARIO is ready, get, list, create or mix (80% get / 15% list / 5% create).
-- DATAFILE has one line per seeded user: "<token> <entry id> <entry id> ...".
-- SCENARIO replay (bench/scale.py) instead sends a random line of DATAFILE each time, every line
-- one request: "<METHOD>\t<token>\t<path>\t<JSON body or nothing>"; which user asks what is
-- decided in Python, so one scenario serves every variant of the data-scale benchmark.
-- done() prints one line "BENCH_JSON {...}" with requests, errors and latency percentiles (us).

local scenario = "get"
local users = {}
local requests = {}
local counter = 0

-- Formatted once here, not per request: a request then costs wrk one table lookup.
local function read_requests(path)
  local list = {}
  for line in io.lines(path) do
    local method, token, target, body = line:match("^(%u+)\t(%S+)\t(%S+)\t?(.*)$")
    if method then
      local headers = { ["Authorization"] = "Bearer " .. token }
      if body == "" then
        body = nil
      else
        headers["Content-Type"] = "application/json"
      end
      list[#list + 1] = wrk.format(method, target, headers, body)
    end
  end
  return list
end

local function read_users(path)
  local list = {}
  for line in io.lines(path) do
    local fields = {}
    for word in line:gmatch("%S+") do fields[#fields + 1] = word end
    if #fields >= 2 then
      local ids = {}
      for i = 2, #fields do ids[#ids + 1] = fields[i] end
      list[#list + 1] = { auth = "Bearer " .. fields[1], ids = ids }
    end
  end
  return list
end

function init(args)
  scenario = args[1] or "get"
  if scenario == "replay" then
    requests = read_requests(args[2])
  elseif args[2] then
    users = read_users(args[2])
  end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
end

local function get_one()
  local user = users[math.random(#users)]
  local id = user.ids[math.random(#user.ids)]
  return wrk.format("GET", "/api/v1/entries/" .. id, { ["Authorization"] = user.auth })
end

local function list_first_page()
  local user = users[math.random(#users)]
  return wrk.format("GET", "/api/v1/entries", { ["Authorization"] = user.auth })
end

local function create_one()
  local user = users[math.random(#users)]
  counter = counter + 1
  local body = string.format(
    '{"title":"bench %d","content":"Benchmark entry number %d written under load.","mood":"good","tags":["bench"]}',
    counter, counter)
  return wrk.format("POST", "/api/v1/entries",
    { ["Authorization"] = user.auth, ["Content-Type"] = "application/json" }, body)
end

function request()
  if scenario == "replay" then
    return requests[math.random(#requests)]
  elseif scenario == "ready" then
    return wrk.format("GET", "/health/ready")
  elseif scenario == "get" then
    return get_one()
  elseif scenario == "list" then
    return list_first_page()
  elseif scenario == "create" then
    return create_one()
  else
    local roll = math.random(100)
    if roll <= 80 then return get_one() end
    if roll <= 95 then return list_first_page() end
    return create_one()
  end
end

function done(summary, latency, _)
  local e = summary.errors
  print(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
