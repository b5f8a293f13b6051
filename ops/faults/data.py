"""Plausible, distinct checkout requests (the generator of ``ops/bench/checkout_post.lua``, in Python).

Everything that identifies a consumer is a bijection of the sequence number ``n``, so no two requests share a
phone, e-mail, name + address, device or IP: the fraud engine's velocity and shared-identity signals stay silent,
every order is a new consumer, and amounts (1,550–28,680) stay under the first-order maximum (30,000). Orders are
therefore ``authorized``, which is what the scenarios need (an invoice on capture, a sale to settle).
"""

from __future__ import annotations

from typing import Any

FAMILY = (
    ("佐藤", "サトウ", "sato"),
    ("鈴木", "スズキ", "suzuki"),
    ("高橋", "タカハシ", "takahashi"),
    ("田中", "タナカ", "tanaka"),
    ("伊藤", "イトウ", "ito"),
    ("渡辺", "ワタナベ", "watanabe"),
    ("山本", "ヤマモト", "yamamoto"),
    ("中村", "ナカムラ", "nakamura"),
    ("小林", "コバヤシ", "kobayashi"),
    ("加藤", "カトウ", "kato"),
    ("吉田", "ヨシダ", "yoshida"),
    ("山田", "ヤマダ", "yamada"),
    ("佐々木", "ササキ", "sasaki"),
    ("山口", "ヤマグチ", "yamaguchi"),
    ("松本", "マツモト", "matsumoto"),
    ("井上", "イノウエ", "inoue"),
    ("木村", "キムラ", "kimura"),
    ("林", "ハヤシ", "hayashi"),
    ("清水", "シミズ", "shimizu"),
    ("斎藤", "サイトウ", "saito"),
)
GIVEN = (
    ("太郎", "タロウ", "taro"),
    ("花子", "ハナコ", "hanako"),
    ("翔太", "ショウタ", "shota"),
    ("陽菜", "ヒナ", "hina"),
    ("大輔", "ダイスケ", "daisuke"),
    ("美咲", "ミサキ", "misaki"),
    ("健太", "ケンタ", "kenta"),
    ("結衣", "ユイ", "yui"),
    ("拓也", "タクヤ", "takuya"),
    ("愛", "アイ", "ai"),
    ("直樹", "ナオキ", "naoki"),
    ("由美", "ユミ", "yumi"),
    ("蓮", "レン", "ren"),
    ("葵", "アオイ", "aoi"),
    ("隆", "タカシ", "takashi"),
    ("恵子", "ケイコ", "keiko"),
)
TOWNS = (
    ("東京都港区赤坂", "107-0052"),
    ("東京都新宿区西新宿", "160-0023"),
    ("東京都世田谷区三軒茶屋", "154-0024"),
    ("東京都渋谷区恵比寿", "150-0013"),
    ("東京都練馬区豊玉北", "176-0012"),
    ("神奈川県横浜市西区みなとみらい", "220-0012"),
    ("神奈川県川崎市中原区小杉町", "211-0063"),
    ("埼玉県さいたま市浦和区高砂", "330-0063"),
    ("千葉県千葉市中央区富士見", "260-0015"),
    ("大阪府大阪市北区梅田", "530-0001"),
    ("大阪府大阪市中央区難波", "542-0076"),
    ("大阪府豊中市新千里東町", "560-0082"),
    ("兵庫県神戸市中央区三宮町", "650-0021"),
    ("愛知県名古屋市中区栄", "460-0008"),
    ("愛知県名古屋市千種区今池", "464-0850"),
    ("福岡県福岡市中央区天神", "810-0001"),
    ("福岡県福岡市博多区博多駅前", "812-0011"),
    ("北海道旭川市宮下通", "070-0030"),
    ("宮城県仙台市青葉区一番町", "980-0811"),
    ("広島県広島市中区紙屋町", "730-0031"),
    ("静岡県静岡市葵区呉服町", "420-0031"),
    ("新潟県新潟市中央区万代", "950-0088"),
    ("熊本県熊本市中央区下通", "860-0807"),
    ("沖縄県那覇市久茂地", "900-0015"),
    ("石川県金沢市本町", "920-0853"),
    ("岡山県岡山市北区駅前町", "700-0023"),
)
BUILDINGS = ("", " コーポ青葉", " グランハイツ", " メゾン桜", " パークマンション", " サンライズ")
DOMAINS = ("gmail.com", "yahoo.co.jp", "docomo.ne.jp", "icloud.com", "ezweb.ne.jp", "softbank.ne.jp", "outlook.jp")
MOBILE = ("090", "080", "070")
AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SO-51D) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
    "Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
)
ITEMS = (
    ("緑茶ギフトセット", 8),
    ("ハンドタオル", 10),
    ("コーヒー豆 500g", 8),
    ("ワイヤレスイヤホン", 10),
    ("スニーカー", 10),
    ("米 5kg", 8),
    ("ノートブック", 10),
    ("和菓子詰め合わせ", 8),
)
PHONE_SPACE = 90_000_000
ADDR_SPACE = 4 * 60 * 30


def base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, d = divmod(value, 36)
        out = digits[d] + out
        if value == 0:
            return out


def order_request(merchant_order_id: str, n: int) -> dict[str, Any]:
    """The JSON body of ``POST /v1/orders`` for consumer number ``n`` (a new, distinct consumer per ``n``)."""
    family = FAMILY[n % len(FAMILY)]
    given = GIVEN[(n // len(FAMILY)) % len(GIVEN)]
    p = ((n // 3) * 7919 + 12_345_678) % PHONE_SPACE + 10_000_000
    phone = f"{MOBILE[n % 3]}-{p // 10_000:04d}-{p % 10_000:04d}"
    a = (n * 7 + 101) % (len(TOWNS) * ADDR_SPACE)
    town = TOWNS[a % len(TOWNS)]
    rest = a // len(TOWNS)
    chome, ban, go = rest % 4 + 1, (rest // 4) % 60 + 1, rest // 240 + 1
    building = BUILDINGS[n % len(BUILDINGS)]
    if building:
        building += f" {n % 9 + 1}{n % 12 + 1:02d}"
    item = ITEMS[n % len(ITEMS)]
    price = 1000 + ((n * 37) % 130) * 100
    qty = n % 2 + 1
    ship = 880 if n % 3 == 0 else 550
    ip = n * 40503 % 16_777_216
    return {
        "merchant_order_id": merchant_order_id,
        "amount": price * qty + ship,
        "currency": "JPY",
        "items": [
            {"ref": f"SKU-{n % 997}", "name": item[0], "unit_price": price, "quantity": qty, "tax_rate": item[1]},
            {"ref": "SHIP", "name": "送料", "unit_price": ship, "quantity": 1, "tax_rate": 10},
        ],
        "buyer": {
            "name": f"{family[0]} {given[0]}",
            "name_kana": f"{family[1]} {given[1]}",
            "email": f"{given[2]}.{family[2]}.{base36(n)}@{DOMAINS[n % len(DOMAINS)]}",
            "phone": phone,
            "postal_code": town[1],
            "address": f"{town[0]}{chome}丁目{ban}番{go}号{building}",
        },
        "invoice_delivery": "separate",
        "device": {
            "ip": f"126.{ip // 65536}.{(ip // 256) % 256}.{ip % 256}",
            "user_agent": AGENTS[n % len(AGENTS)],
            "accept_language": "ja-JP,ja;q=0.9",
            "timezone": "Asia/Tokyo",
            "device_id": f"dev-{base36(n * 2_654_435_761 % 4_294_967_296)}",
        },
    }


def capture_request(n: int) -> dict[str, Any]:
    """The JSON body of ``POST /v1/orders/{id}/captures``: everything, carrier ``other`` (no check digit)."""
    return {"carrier": "other", "tracking_number": f"FLT{n:09d}"}
