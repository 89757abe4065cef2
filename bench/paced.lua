-- Constant-rate load for wrk (which has no -R option), without coordinated omission as long
-- as the schedule is kept.
--
-- Every request gets a slot on one fixed timetable: slot k is sent at t0 + k / RATE. A
-- connection that has finished its previous request asks delay() for the wait until the next
-- free slot, so the sends are evenly spaced at RATE per second however fast the responses
-- come back: a slow response does not push later requests back. wrk measures each latency
-- from the moment the request is written, and since requests are written at their scheduled
-- time, the latency is measured from the intended send time (to wrk's timer resolution of
-- 1 ms: a wait below 1 ms is sent at once, so at 10,000 req/s sends leave in 1 ms batches).
--
-- The one way omission can creep in: if every connection is busy when a slot comes up, the
-- request is sent late and its wait is not counted. With -c50 at 1000 req/s each connection is
-- needed only every 50 ms, so this happens only if responses take longer than that. done()
-- prints how many sends were more than one interval late ("late="): when it is 0 the
-- percentiles are free of coordinated omission; otherwise they are optimistic.
--
-- To check that the pacing is even, request() (called at the moment a request is written)
-- counts the sends in consecutive windows of 100 slots (100 ms at 1000 req/s, 10 ms at
-- 10,000 req/s): done() prints the smallest and largest count of a full window ("win_min=",
-- "win_max="; 100 each when the pacing is perfect) and the rate at which requests were
-- actually written ("send_rps=").
--
-- Environment: RATE (requests per second for the whole run, default 1000), WRK_THREADS (the
-- -t value, default 1; each thread takes an equal share of RATE).

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } weft_timespec;
  int clock_gettime(int clk_id, weft_timespec *tp);
]]
local ts = ffi.new("weft_timespec")
local CLOCK_MONOTONIC = 1

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000.0 + tonumber(ts.tv_nsec) / 1e6
end

local rate = tonumber(os.getenv("RATE") or "1000")
local nthreads = tonumber(os.getenv("WRK_THREADS") or "1")
local threads = {}
local WINDOW_SLOTS = 100

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  interval = 1000.0 * nthreads / rate -- ms between two slots of this thread
  next_slot = nil
  scheduled = 0
  late = 0
  req = wrk.format()
  window_ms = interval * WINDOW_SLOTS
  first_send = -1
  last_send = -1
  sent = 0
  win = 0
  win_count = 0
  win_min = -1
  win_max = -1
end

function delay()
  local t = now_ms()
  if next_slot == nil then
    next_slot = t
  end
  local slot = next_slot
  next_slot = next_slot + interval
  scheduled = scheduled + 1
  local wait = slot - t
  if wait <= 0 then
    if -wait > interval then
      late = late + 1
    end
    return 0
  end
  return wait
end

local function close_window(count)
  if win_min < 0 or count < win_min then win_min = count end
  if count > win_max then win_max = count end
end

function request()
  local t = now_ms()
  if first_send < 0 then first_send = t end
  last_send = t
  sent = sent + 1
  local w = math.floor((t - first_send) / window_ms)
  if w ~= win then
    -- windows that saw no send at all count as 0
    close_window(win_count)
    for _ = win + 1, w - 1 do close_window(0) end
    win = w
    win_count = 0
  end
  win_count = win_count + 1
  return req
end

function done(summary, latency, requests)
  local sched, lt, snt, wmin, wmax, span = 0, 0, 0, -1, -1, 0
  for _, t in ipairs(threads) do
    sched = sched + (t:get("scheduled") or 0)
    lt = lt + (t:get("late") or 0)
    snt = snt + (t:get("sent") or 0)
    local a, b = t:get("win_min") or -1, t:get("win_max") or -1
    if a >= 0 and (wmin < 0 or a < wmin) then wmin = a end
    if b > wmax then wmax = b end
    local s = (t:get("last_send") or 0) - (t:get("first_send") or 0)
    if s > span then span = s end
  end
  local secs = summary.duration / 1e6
  local send_rps = 0
  if span > 0 then send_rps = (snt - 1) / (span / 1000.0) end
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d errors=%d late=%d scheduled=%d send_rps=%.1f win_min=%d win_max=%d\n",
    summary.requests, secs, summary.requests / secs, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.status + summary.errors.timeout, lt, sched, send_rps, wmin, wmax))
end
