-- wrk script: POST /v1/bookings with a fresh body per request (random bot user, random future start).
local key = os.getenv("BENCH_API_KEY") or ""
local users = tonumber(os.getenv("BENCH_USERS") or "500")
-- The share of requests that are a bot user's first booking.
local new_share = tonumber(os.getenv("BENCH_NEW_SHARE") or "0")
local counter = 0
local sent = 0

function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

function init(args)
  math.randomseed(os.time() * 1000 + (seed or 0))
end

local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key }

function request()
  sent = sent + 1
  local ns
  if math.random() < new_share then
    ns = string.format("new-%d-%d-%d", os.time(), seed or 0, sent)
  else
    ns = string.format("user-%d", math.random(0, users - 1))
  end
  local t = 1924992000 + math.random(0, 365 * 24 * 60) * 60
  local body = string.format(
    '{"service_uid":"svc-0","bot_user_ns":"%s","start_time":"%s","location":"Room 1",'
      .. '"source":"bench","metadata":"{\\"channel\\":\\"telegram\\"}"}',
    ns, os.date("!%Y-%m-%dT%H:%M:%SZ", t))
  return wrk.format("POST", "/v1/bookings", headers, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"status_errors":%d,"socket_errors":%d,'
      .. '"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
