-- wrk script for bench/client.mjs: done() prints one JSON line (requests, the run's length, errors by kind,
-- latency mean and percentiles in microseconds) for the bench to read. wrk records the latency of completed requests
-- only: requests/s x mean latency is how many connections were actually served (Little's law); a front end that
-- starves some connections shows fewer than -c.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"p50":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(99), latency.max))
end
