/**
 * Lua run inside Redis. One script per check does rates, quotas, credits and the chargeId atomically (Redis runs a script
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

/** Mirrors credits.ts: period ordinals, the refill of a stored balance, the opening balance. */
const CREDITS = `
local MAX_BALANCE = 9007199254740991

local function period_index(period, ms)
  if period == 'minute' then return math.floor(ms / 60000) end
  if period == 'hour' then return math.floor(ms / 3600000) end
  if period == 'day' then return math.floor(ms / 86400000) end
  local y, m = civil_from_days(math.floor(ms / 86400000))
  return y * 12 + (m - 1)
end

-- Credit args at ARGV[i..i+4]: initial, refill amount ('' = none), refill period, refill mode, since ms ('' = now).
-- Returns balance, period start ms, refill amount (0 = none), period, mode, the stored hash existed.
local function credit_state(key, i, now_ms)
  local initial = tonumber(ARGV[i])
  local amount = ARGV[i + 1] ~= '' and tonumber(ARGV[i + 1]) or 0
  local period, mode = ARGV[i + 2], ARGV[i + 3]
  local stored = redis.call('HMGET', key, 'b', 'w')
  local balance, wstart
  if stored[1] then
    balance, wstart = tonumber(stored[1]), tonumber(stored[2])
  else
    balance, wstart = initial, 0
    if amount > 0 then
      local since = now_ms
      if ARGV[i + 4] ~= '' and tonumber(ARGV[i + 4]) < now_ms then since = tonumber(ARGV[i + 4]) end
      wstart = quota_window(period, since)
    end
  end
  if amount > 0 then
    local crossed = period_index(period, now_ms) - period_index(period, wstart)
    if crossed > 0 then
      if mode == 'reset' then balance = amount else balance = math.min(MAX_BALANCE, balance + crossed * amount) end
      wstart = quota_window(period, now_ms)
    end
  else
    wstart = 0
  end
  return balance, wstart, amount, period, mode
end

local function store_credits(key, balance, wstart)
  redis.call('HSET', key, 'b', string.format('%.0f', balance), 'w', string.format('%.0f', wstart))
end
`;

/**
 * KEYS[1] the subject's key base `<prefix>{<subject>}:` (the script appends the rest; same hash tag,
 * so one slot).
 * ARGV: charge ('1' | '0'), now ms ('' = Redis TIME), cost (units; a peek passes 1), chargeId
 *       ('' = none), chargeId retention ms, then the number of rate limits and per rate limit its key
 *       suffix, emission interval us and burst, then the number of quotas and per quota its period and
 *       limit, then credits ('1' | '') and when present initial, refill amount, period, mode, since.
 * Returns { outcome (0 ok, 1 rate, 2 quota, 3 credits), index of the refusing rate or quota (1-based,
 *           0 = none), then per rate: remaining, reset us, retry-after us; per quota: used, window
 *           start ms, window end ms; then credit balance, next refill ms (-1 = none) }.
 * With a chargeId already charged: { -1, the first reply joined by ',' }.
 */
export const CHECK_SCRIPT = `${CLOCK_AND_CALENDAR}${CREDITS}
local base = KEYS[1]
local charge = ARGV[1] == '1'
local now_us = now_us_from(ARGV[2])
local now_ms = math.floor(now_us / 1000)
local cost = tonumber(ARGV[3])

local charge_key = nil
if charge and ARGV[4] ~= '' then
  charge_key = base .. 'charge:' .. ARGV[4]
  local first = redis.call('GET', charge_key)
  if first then return { -1, first } end
end

local outcome, refused = 0, 0
local reply = { 0, 0 }
local i = 6

local n_rates = tonumber(ARGV[i])
i = i + 1
local r_keys, r_cand, r_tat, r_int, r_burst, r_ok = {}, {}, {}, {}, {}, {}
for r = 1, n_rates do
  local key = base .. ARGV[i]
  local interval, burst = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  i = i + 3
  local tolerance = burst * interval
  local tat = now_us
  local stored = redis.call('GET', key)
  if stored then
    local s = tonumber(stored)
    if s and s > now_us then tat = s end
    -- Capped at now + tolerance and stored, as in gcra.ts / memory-limiter.ts: a stricter earlier
    -- policy's debt never outlives an override that raised the limit.
    if tat > now_us + tolerance then
      tat = now_us + tolerance
      redis.call('SET', key, string.format('%.0f', tat), 'PX', math.ceil(tolerance / 1000))
    end
  end
  local candidate = tat + interval
  local ok = candidate - now_us <= tolerance
  if not ok and outcome == 0 then outcome, refused = 1, r end
  r_keys[r], r_cand[r], r_tat[r], r_int[r], r_burst[r], r_ok[r] = key, candidate, tat, interval, burst, ok
end

local n_quotas = tonumber(ARGV[i])
i = i + 1
local q_keys, q_used, q_start, q_end = {}, {}, {}, {}
for q = 1, n_quotas do
  local wstart, wend = quota_window(ARGV[i], now_ms)
  local key = base .. 'quota:' .. ARGV[i] .. ':' .. string.format('%.0f', wstart)
  local used = tonumber(redis.call('GET', key) or '0') or 0
  if outcome == 0 and used + cost > tonumber(ARGV[i + 1]) then outcome, refused = 2, q end
  i = i + 2
  q_keys[q], q_used[q], q_start[q], q_end[q] = key, used, wstart, wend
end

local has_credits = ARGV[i] == '1'
local credit_key, balance, credit_start, refill_amount, refill_period = base .. 'credits', 0, 0, 0, ''
if has_credits then
  balance, credit_start, refill_amount, refill_period = credit_state(credit_key, i + 1, now_ms)
  if outcome == 0 and balance < cost then outcome = 3 end
end

local charged = charge and outcome == 0
if charged then
  for r = 1, n_rates do
    redis.call('SET', r_keys[r], string.format('%.0f', r_cand[r]), 'PX', math.ceil((r_cand[r] - now_us) / 1000))
  end
  if cost > 0 then
    for q = 1, n_quotas do
      q_used[q] = redis.call('INCRBY', q_keys[q], ARGV[3])
      redis.call('PEXPIRE', q_keys[q], q_end[q] - now_ms)
    end
    if has_credits then
      balance = balance - cost
      store_credits(credit_key, balance, credit_start)
    end
  end
end

reply[1], reply[2] = outcome, refused
for r = 1, n_rates do
  local after = charged and r_cand[r] or r_tat[r]
  local tolerance = r_burst[r] * r_int[r]
  local remaining = math.floor((now_us + tolerance - after) / r_int[r])
  if remaining < 0 then remaining = 0 end
  if remaining > r_burst[r] then remaining = r_burst[r] end
  local retry = 0
  if not r_ok[r] then retry = r_cand[r] - tolerance - now_us end
  reply[#reply + 1] = remaining
  reply[#reply + 1] = after - now_us
  reply[#reply + 1] = retry
end
for q = 1, n_quotas do
  reply[#reply + 1] = q_used[q]
  reply[#reply + 1] = q_start[q]
  reply[#reply + 1] = q_end[q]
end
if has_credits then
  reply[#reply + 1] = balance
  if refill_amount > 0 then
    local _, next_start = quota_window(refill_period, now_ms)
    reply[#reply + 1] = next_start
  else
    reply[#reply + 1] = -1
  end
end

if charged and charge_key then
  local parts = {}
  for n = 1, #reply do parts[n] = string.format('%.0f', reply[n]) end
  redis.call('SET', charge_key, table.concat(parts, ','), 'PX', ARGV[5])
end
return reply
`;

/**
 * KEYS[1] the subject's key base. ARGV: now ms ('' = Redis TIME), amount, topUpId, at ms ('' = now),
 * then initial, refill amount, period, mode, since (as in CHECK_SCRIPT).
 * Returns { applied (1 | 0), balance }. TopUp ids are kept in a set that never expires.
 */
export const TOP_UP_SCRIPT = `${CLOCK_AND_CALENDAR}${CREDITS}
local now_ms = math.floor(now_us_from(ARGV[1]) / 1000)
local key = KEYS[1] .. 'credits'
local balance, wstart, amount, period, mode = credit_state(key, 5, now_ms)
local fresh = redis.call('SADD', KEYS[1] .. 'topups', ARGV[3]) == 1
local at = ARGV[4] ~= '' and tonumber(ARGV[4]) or now_ms
local applies = fresh and not (amount > 0 and mode == 'reset' and period_index(period, at) < period_index(period, now_ms))
if applies then balance = math.min(MAX_BALANCE, balance + tonumber(ARGV[2])) end
store_credits(key, balance, wstart)
return { applies and 1 or 0, balance }
`;

/**
 * KEYS[1] the subject's key base. ARGV: now ms ('' = Redis TIME), spent, window start ms, then
 * initial, refill amount, period, mode, since. Subtracts spent (never below zero) unless a reset
 * since that window wiped it.
 */
export const RESTORE_CREDITS_SCRIPT = `${CLOCK_AND_CALENDAR}${CREDITS}
local now_ms = math.floor(now_us_from(ARGV[1]) / 1000)
local key = KEYS[1] .. 'credits'
local balance, wstart, amount, period, mode = credit_state(key, 4, now_ms)
local counts = not (amount > 0 and mode == 'reset' and period_index(period, tonumber(ARGV[3])) < period_index(period, now_ms))
if counts then
  balance = balance - tonumber(ARGV[2])
  if balance < 0 then balance = 0 end
end
store_credits(key, balance, wstart)
return balance
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
