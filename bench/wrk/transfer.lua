-- P2P transfers through the HTTP API: each request is signed in as a random user, pays a random
-- other user (or the merchant, when OKANE_BENCH_HOT names one) 1 paisa, with a fresh key. The
-- mix also has what real clients send: every REPLAY_EVERY-th request retries the previous
-- request with its key (a replay, answered 201 with Idempotent-Replayed), and every
-- BROKE_EVERY-th asks for more than any wallet holds (a recorded insufficient_funds, 201).
local tokens, phones = {}, {}
local counter = 0
local prefix
local hot = os.getenv("OKANE_BENCH_HOT")
local REPLAY_EVERY, BROKE_EVERY = 20, 25
local last

function init(args)
  for line in io.lines(os.getenv("OKANE_BENCH_USERS")) do
    local token, phone = line:match("^(%S+) (%S+)$")
    tokens[#tokens + 1] = token
    phones[#phones + 1] = phone
  end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16))
  prefix = string.format("%08x", math.random(0, 0x7fffffff))
end

function request()
  counter = counter + 1
  if last and counter % REPLAY_EVERY == 0 then
    return last
  end
  local i = math.random(#tokens)
  local to
  if hot then
    if phones[i] == hot then i = (i % #tokens) + 1 end
    to = hot
  else
    local j = math.random(#tokens - 1)
    if j >= i then j = j + 1 end
    to = phones[j]
  end
  local amount = (counter % BROKE_EVERY == 0) and 5000000 or 1
  last = wrk.format("POST", "/v1/transfers", {
    ["Authorization"] = "Bearer " .. tokens[i],
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = prefix .. "-" .. counter,
  }, '{"to":"' .. to .. '","amount":' .. amount .. '}')
  return last
end
