-- wrk script: GET the member check for subjects picked from a file of IDs
-- (one per line), in turn. PATH_PREFIX, IDS and KEY come from the environment.
local ids = {}
local n = 0
local counter = 0
local prefix

function init(args)
  for line in io.lines(os.getenv("IDS")) do
    n = n + 1
    ids[n] = line
  end
  prefix = os.getenv("PATH_PREFIX")
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")
  counter = math.random(n)
end

function request()
  counter = counter + 7919
  return wrk.format("GET", prefix .. ids[(counter % n) + 1])
end

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d non2xx=%d errors=%d p50_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
