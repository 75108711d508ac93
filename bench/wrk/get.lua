-- GET a path as a random signed-in user (OKANE_BENCH_PATH, default /v1/wallet).
local tokens = {}
local path = os.getenv("OKANE_BENCH_PATH") or "/v1/wallet"

function init(args)
  for line in io.lines(os.getenv("OKANE_BENCH_USERS")) do
    tokens[#tokens + 1] = line:match("^(%S+)")
  end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16))
end

function request()
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. tokens[math.random(#tokens)]})
end
