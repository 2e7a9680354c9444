-- POSTs one fixed JSON body on every request and reports the run as JSON.
--
-- Usage: wrk ... -s post_json.lua <url> -- <body file> [<token>]
--   <body file>  the request body, sent as application/json
--   <token>      sent as "Authorization: Token <token>" when given
--
-- The request is built once per thread in init(); response() only counts
-- statuses outside 2xx; done() prints one line "WRK_RESULT {json}" that
-- benchmarks/report.py parses (latencies in microseconds).

local threads = {}
local request_text = nil
non_2xx = 0

function setup(thread)
   table.insert(threads, thread)
end

local function read_file(path)
   local fh = assert(io.open(path, "rb"), "cannot open body file " .. tostring(path))
   local text = fh:read("*a")
   fh:close()
   return text
end

function init(args)
   local body = read_file(args[1])
   local headers = {}
   headers["Content-Type"] = "application/json"
   if args[2] ~= nil and args[2] ~= "" then
      headers["Authorization"] = "Token " .. args[2]
   end
   request_text = wrk.format("POST", wrk.path, headers, body)
end

function request()
   return request_text
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non_2xx = non_2xx + 1
   end
end

local function number(value)
   return string.format("%.3f", value)
end

function done(summary, latency, requests)
   local non_2xx_total = 0
   for _, thread in ipairs(threads) do
      non_2xx_total = non_2xx_total + (thread:get("non_2xx") or 0)
   end
   local e = summary.errors
   local parts = {
      '"duration_us":' .. summary.duration,
      '"requests":' .. summary.requests,
      '"bytes":' .. summary.bytes,
      '"non_2xx":' .. non_2xx_total,
      '"errors":{"connect":' .. e.connect .. ',"read":' .. e.read .. ',"write":' .. e.write
         .. ',"status":' .. e.status .. ',"timeout":' .. e.timeout .. '}',
      '"latency_us":{"min":' .. number(latency.min) .. ',"mean":' .. number(latency.mean)
         .. ',"stdev":' .. number(latency.stdev) .. ',"max":' .. number(latency.max)
         .. ',"p50":' .. number(latency:percentile(50.0))
         .. ',"p90":' .. number(latency:percentile(90.0))
         .. ',"p99":' .. number(latency:percentile(99.0))
         .. ',"p999":' .. number(latency:percentile(99.9)) .. '}',
   }
   io.write("WRK_RESULT {" .. table.concat(parts, ",") .. "}\n")
end
