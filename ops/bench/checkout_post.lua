-- wrk script for ops/bench/checkout.py: POST /v1/orders, every request a new, plausible, distinct consumer.
--
-- Environment (set by checkout.py):
--   BNPL_BENCH_KEY   the merchant API key
--   BNPL_BENCH_RUN   this wrk run's number (merchant_order_id "CO-<run>-<n>", Idempotency-Key "co-<run>-<n>")
--   BNPL_BENCH_BASE  first sequence number of this run; the next run starts after the highest one printed by done()
--
-- Sequence numbers n = base + 2 * counter + (thread - 1) are unique across threads and runs, and everything that
-- identifies a consumer is a bijection of n, so no two requests share a phone, e-mail, name + address, device or
-- IP (the fraud engine's velocity and shared-identity signals stay silent, consumer resolution creates a new
-- consumer every time, and the first-order maximum (30,000) is respected: amounts are 1,550–28,680):
--   phone   0X0-NNNN-NNNN, X in 9/8/7, 8 digits starting 1–9 (a valid JP mobile number for libphonenumber)
--   e-mail  given.family.<base36 n>@<Japanese ISP or webmail>
--   address a real town (prefecture, city, postal code) + chome 1–4, ban 1–60, go 1–30 (187,200 distinct keys)
--   device  a fresh device id; IP in 126.0.0.0/8 (SoftBank, Japan)
local key = os.getenv("BNPL_BENCH_KEY")
local run = tonumber(os.getenv("BNPL_BENCH_RUN") or "0")
local base = tonumber(os.getenv("BNPL_BENCH_BASE") or "0")

local threads = {}
local next_tid = 0
counter = 0
statuses = {}

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
  table.insert(threads, thread)
end

local FAMILY = {
  {"佐藤", "サトウ", "sato"}, {"鈴木", "スズキ", "suzuki"}, {"高橋", "タカハシ", "takahashi"},
  {"田中", "タナカ", "tanaka"}, {"伊藤", "イトウ", "ito"}, {"渡辺", "ワタナベ", "watanabe"},
  {"山本", "ヤマモト", "yamamoto"}, {"中村", "ナカムラ", "nakamura"}, {"小林", "コバヤシ", "kobayashi"},
  {"加藤", "カトウ", "kato"}, {"吉田", "ヨシダ", "yoshida"}, {"山田", "ヤマダ", "yamada"},
  {"佐々木", "ササキ", "sasaki"}, {"山口", "ヤマグチ", "yamaguchi"}, {"松本", "マツモト", "matsumoto"},
  {"井上", "イノウエ", "inoue"}, {"木村", "キムラ", "kimura"}, {"林", "ハヤシ", "hayashi"},
  {"清水", "シミズ", "shimizu"}, {"斎藤", "サイトウ", "saito"},
}
local GIVEN = {
  {"太郎", "タロウ", "taro"}, {"花子", "ハナコ", "hanako"}, {"翔太", "ショウタ", "shota"}, {"陽菜", "ヒナ", "hina"},
  {"大輔", "ダイスケ", "daisuke"}, {"美咲", "ミサキ", "misaki"}, {"健太", "ケンタ", "kenta"}, {"結衣", "ユイ", "yui"},
  {"拓也", "タクヤ", "takuya"}, {"愛", "アイ", "ai"}, {"直樹", "ナオキ", "naoki"}, {"由美", "ユミ", "yumi"},
  {"蓮", "レン", "ren"}, {"葵", "アオイ", "aoi"}, {"隆", "タカシ", "takashi"}, {"恵子", "ケイコ", "keiko"},
}
local TOWNS = {
  {"東京都港区赤坂", "107-0052"}, {"東京都新宿区西新宿", "160-0023"}, {"東京都世田谷区三軒茶屋", "154-0024"},
  {"東京都渋谷区恵比寿", "150-0013"}, {"東京都練馬区豊玉北", "176-0012"}, {"神奈川県横浜市西区みなとみらい", "220-0012"},
  {"神奈川県川崎市中原区小杉町", "211-0063"}, {"埼玉県さいたま市浦和区高砂", "330-0063"},
  {"千葉県千葉市中央区富士見", "260-0015"}, {"大阪府大阪市北区梅田", "530-0001"}, {"大阪府大阪市中央区難波", "542-0076"},
  {"大阪府豊中市新千里東町", "560-0082"}, {"兵庫県神戸市中央区三宮町", "650-0021"}, {"愛知県名古屋市中区栄", "460-0008"},
  {"愛知県名古屋市千種区今池", "464-0850"}, {"福岡県福岡市中央区天神", "810-0001"},
  {"福岡県福岡市博多区博多駅前", "812-0011"}, {"北海道旭川市宮下通", "070-0030"}, {"宮城県仙台市青葉区一番町", "980-0811"},
  {"広島県広島市中区紙屋町", "730-0031"}, {"静岡県静岡市葵区呉服町", "420-0031"}, {"新潟県新潟市中央区万代", "950-0088"},
  {"熊本県熊本市中央区下通", "860-0807"}, {"沖縄県那覇市久茂地", "900-0015"}, {"石川県金沢市本町", "920-0853"},
  {"岡山県岡山市北区駅前町", "700-0023"},
}
local BUILDINGS = {"", " コーポ青葉", " グランハイツ", " メゾン桜", " パークマンション", " サンライズ"}
local DOMAINS = {"gmail.com", "yahoo.co.jp", "docomo.ne.jp", "icloud.com", "ezweb.ne.jp", "softbank.ne.jp", "outlook.jp"}
local MOBILE = {"090", "080", "070"}
local AGENTS = {
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Linux; Android 14; SO-51D) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15",
}
local ITEMS = {
  {"緑茶ギフトセット", 8}, {"ハンドタオル", 10}, {"コーヒー豆 500g", 8}, {"ワイヤレスイヤホン", 10},
  {"スニーカー", 10}, {"米 5kg", 8}, {"ノートブック", 10}, {"和菓子詰め合わせ", 8},
}

local function base36(v)
  local digits = "0123456789abcdefghijklmnopqrstuvwxyz"
  local s = ""
  repeat
    local d = v % 36
    s = string.sub(digits, d + 1, d + 1) .. s
    v = math.floor(v / 36)
  until v == 0
  return s
end

local PHONE_SPACE = 90000000          -- 8-digit numbers 10000000..99999999
local ADDR_SPACE = 4 * 60 * 30        -- chome x ban x go, per town

request = function()
  local n = base + counter * 2 + (tid - 1)
  counter = counter + 1
  local family = FAMILY[n % #FAMILY + 1]
  local given = GIVEN[math.floor(n / #FAMILY) % #GIVEN + 1]
  -- phone: an affine bijection of n over the 3 x 90,000,000 numbers (7919 is coprime to 90,000,000)
  local p = (math.floor(n / 3) * 7919 + 12345678) % PHONE_SPACE + 10000000
  local phone = string.format("%s-%04d-%04d", MOBILE[n % 3 + 1], math.floor(p / 10000), p % 10000)
  -- address: a bijection of n over towns x chome x ban x go (7 is coprime to 187,200)
  local a = (n * 7 + 101) % (#TOWNS * ADDR_SPACE)
  local town = TOWNS[a % #TOWNS + 1]
  local rest = math.floor(a / #TOWNS)
  local chome, ban, go = rest % 4 + 1, math.floor(rest / 4) % 60 + 1, math.floor(rest / 240) + 1
  local building = BUILDINGS[n % #BUILDINGS + 1]
  if building ~= "" then
    building = building .. string.format(" %d%02d", n % 9 + 1, n % 12 + 1)
  end
  local email = string.format("%s.%s.%s@%s", given[3], family[3], base36(n), DOMAINS[n % #DOMAINS + 1])
  local item = ITEMS[n % #ITEMS + 1]
  local price = 1000 + ((n * 37) % 130) * 100
  local qty = n % 2 + 1
  local ship = (n % 3 == 0) and 880 or 550
  local amount = price * qty + ship
  local ip = n * 40503 % 16777216
  local body = string.format(
    '{"merchant_order_id":"CO-%d-%d","amount":%d,"currency":"JPY","items":[' ..
    '{"ref":"SKU-%d","name":"%s","unit_price":%d,"quantity":%d,"tax_rate":%d},' ..
    '{"ref":"SHIP","name":"送料","unit_price":%d,"quantity":1,"tax_rate":10}],' ..
    '"buyer":{"name":"%s %s","name_kana":"%s %s","email":"%s","phone":"%s","postal_code":"%s",' ..
    '"address":"%s%d丁目%d番%d号%s"},"invoice_delivery":"separate",' ..
    '"device":{"ip":"126.%d.%d.%d","user_agent":"%s","accept_language":"ja-JP,ja;q=0.9",' ..
    '"timezone":"Asia/Tokyo","device_id":"dev-%s"}}',
    run, n, amount, n % 997, item[1], price, qty, item[2], ship,
    family[1], given[1], family[2], given[2], email, phone, town[2],
    town[1], chome, ban, go, building,
    math.floor(ip / 65536), math.floor(ip / 256) % 256, ip % 256, AGENTS[n % #AGENTS + 1], base36(n * 2654435761 % 4294967296))
  return wrk.format("POST", "/v1/orders", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key,
    ["Idempotency-Key"] = string.format("co-%d-%d", run, n),
  }, body)
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local top = base
  local counts = {}
  for _, t in ipairs(threads) do
    local c = t:get("counter") or 0
    local tid = t:get("tid")
    top = math.max(top, base + c * 2 + (tid - 1))
    local s = t:get("statuses") or {}
    for code, k in pairs(s) do
      counts[code] = (counts[code] or 0) + k
    end
  end
  io.write(string.format("bench_next_base %d\n", top + 1))
  for code, k in pairs(counts) do
    io.write(string.format("bench_status %d %d\n", code, k))
  end
end
