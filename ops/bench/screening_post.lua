-- wrk script: POST /v1/screenings with varied orders (addresses, phones, emails, devices and IPs repeat, so the
-- history lookups find rows). The key comes from the environment: BNPL_BENCH_KEY.
local key = os.getenv("BNPL_BENCH_KEY")
local counter = 0
local thread_id = 0

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end

request = function()
  counter = counter + 1
  local n = counter * 7 + (tid or 0) * 100003
  local body = string.format(
    '{"order_id":"B-%d","amount":%d,"currency":"JPY","buyer":{"name":"山田 太郎","name_kana":"ヤマダ タロウ",' ..
    '"email":"user%d@example.jp","phone":"090-%04d-%04d","postal_code":"107-0052",' ..
    '"address":"東京都港区赤坂%d丁目%d番%d号"},"device":{"ip":"133.242.%d.%d","user_agent":' ..
    '"Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",' ..
    '"accept_language":"ja-JP,ja;q=0.9","timezone":"Asia/Tokyo","device_id":"dev-%d"}}',
    n, 1000 + (n % 50) * 500, n % 3000, n % 7 + 1000, n % 9000, n % 9 + 1, n % 20 + 1, n % 30 + 1,
    n % 200, n % 250, n % 2000)
  return wrk.format("POST", "/v1/screenings",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}, body)
end
