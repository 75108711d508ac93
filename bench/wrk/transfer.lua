-- P2P transfers through the HTTP API: each request is signed in as a random user, pays a random
-- other user (or the merchant, when OKANE_BENCH_HOT names one) 1 paisa, with a fresh key.
local tokens, phones = {}, {}
local counter = 0
local prefix
local hot = os.getenv("OKANE_BENCH_HOT")

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
  return wrk.format("POST", "/v1/transfers", {
    ["Authorization"] = "Bearer " .. tokens[i],
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = prefix .. "-" .. counter,
  }, '{"to":"' .. to .. '","amount":1}')
end
