-- wrk script: POST track requests, cycling through the bodies of a file
-- (one JSON request per line). BODIES and KEY come from the environment.
local bodies = {}
local n = 0
local counter = 0

function init(args)
  for line in io.lines(os.getenv("BODIES")) do
    n = n + 1
    bodies[n] = line
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")
end

function request()
  counter = counter + 1
  return wrk.format(nil, nil, nil, bodies[(counter % n) + 1])
end

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d non2xx=%d errors=%d p50_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
