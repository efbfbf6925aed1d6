/**
 * Lua run inside Redis. One script per check does rate + quota atomically (Redis runs a script
 * without interleaving other commands), so N service instances sharing Redis stay exact.
 * The clock is Redis `TIME` unless the caller passes one, so instance clock skew cannot matter.
 *
 * The GCRA part mirrors gcraStep (packages/schemas/src/gcra.ts) and the calendar part mirrors quota-window.ts; the Redis tests check
 * that both agree. Numbers written back to Redis go through string.format('%.0f') because Lua 5.1's
 * default number-to-string conversion keeps only 14 significant digits (microsecond timestamps have 16).
 */

const CLOCK_AND_CALENDAR = `
local function now_us_from(arg)
  if arg == '' then
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000000 + tonumber(t[2])
  end
  return tonumber(arg) * 1000
end

-- Days since 1970-01-01 <-> proleptic Gregorian year/month (H. Hinnant's civil-date algorithms).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return y, m
end

local function quota_window(period, now_ms)
  local size
  if period == 'minute' then size = 60000
  elseif period == 'hour' then size = 3600000
  elseif period == 'day' then size = 86400000
  elseif period == 'month' then
    local y, m = civil_from_days(math.floor(now_ms / 86400000))
    local ny, nm = y, m + 1
    if nm == 13 then ny, nm = y + 1, 1 end
    return days_from_civil(y, m, 1) * 86400000, days_from_civil(ny, nm, 1) * 86400000
  else
    error('unknown quota period ' .. tostring(period))
  end
  local start = math.floor(now_ms / size) * size
  return start, start + size
end
`;

/**
 * KEYS[1] rate key; KEYS[2] quota key without the window start (the script appends it; same hash tag).
 * ARGV: charge ('1' | '0'), now ms ('' = Redis TIME), emission interval us ('' = no rate), burst,
 *       quota limit ('' = no quota), quota period, cost (units; a peek passes 1).
 * Returns { outcome (0 ok, 1 rate, 2 quota), rate remaining, rate reset us, rate retry-after us,
 *           quota used, window start ms, window end ms }.
 */
export const CHECK_SCRIPT = `${CLOCK_AND_CALENDAR}
local charge = ARGV[1] == '1'
local now_us = now_us_from(ARGV[2])
local now_ms = math.floor(now_us / 1000)
local has_rate = ARGV[3] ~= ''
local has_quota = ARGV[5] ~= ''
local cost = tonumber(ARGV[7])

local interval, burst, tolerance, tat, candidate = 0, 0, 0, now_us, 0
local rate_ok = true
if has_rate then
  interval = tonumber(ARGV[3])
  burst = tonumber(ARGV[4])
  tolerance = burst * interval
  local stored = redis.call('GET', KEYS[1])
  if stored then
    local s = tonumber(stored)
    if s and s > now_us then tat = s end
    -- Capped at now + tolerance and stored, as in gcra.ts / memory-limiter.ts: a stricter earlier
    -- policy's debt never outlives an override that raised the limit.
    if tat > now_us + tolerance then
      tat = now_us + tolerance
      redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil(tolerance / 1000))
    end
  end
  candidate = tat + interval
  rate_ok = candidate - now_us <= tolerance
end

local used, wstart, wend, qkey = 0, 0, 0, nil
local quota_ok = true
if has_quota then
  wstart, wend = quota_window(ARGV[6], now_ms)
  qkey = KEYS[2] .. string.format('%.0f', wstart)
  used = tonumber(redis.call('GET', qkey) or '0') or 0
  quota_ok = used + cost <= tonumber(ARGV[5])
end

local outcome = 0
if not rate_ok then outcome = 1 elseif not quota_ok then outcome = 2 end

local after = tat
if charge and outcome == 0 then
  if has_rate then
    after = candidate
    redis.call('SET', KEYS[1], string.format('%.0f', candidate), 'PX', math.ceil((candidate - now_us) / 1000))
  end
  if has_quota and cost > 0 then
    used = redis.call('INCRBY', qkey, ARGV[7])
    redis.call('PEXPIRE', qkey, wend - now_ms)
  end
end

local remaining, reset_us, retry_us = 0, 0, 0
if has_rate then
  remaining = math.floor((now_us + tolerance - after) / interval)
  if remaining < 0 then remaining = 0 end
  if remaining > burst then remaining = burst end
  reset_us = after - now_us
  if not rate_ok then retry_us = candidate - tolerance - now_us end
end
return { outcome, remaining, reset_us, retry_us, used, wstart, wend }
`;

/**
 * KEYS[1] quota key of one window. ARGV: now ms ('' = Redis TIME), window start ms, window end ms, units.
 * Adds units only while that window is current; returns 1 if added, 0 if ignored.
 */
export const RESTORE_SCRIPT = `${CLOCK_AND_CALENDAR}
local now_ms = math.floor(now_us_from(ARGV[1]) / 1000)
local wstart, wend = tonumber(ARGV[2]), tonumber(ARGV[3])
if now_ms >= wend or now_ms < wstart then return 0 end
redis.call('INCRBY', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], wend - now_ms)
return 1
`;
