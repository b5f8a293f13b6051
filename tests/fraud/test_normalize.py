"""名寄せ normalisation: real-world spelling variants of one identity give one key; different identities do not."""

from __future__ import annotations

import datetime as dt

import pytest
from disposable_email_domains import blocklist

from fraud.normalize import (
    build_identity,
    canonical_ip,
    ip_country,
    key_without_prefecture,
    normalize_address,
    normalize_email,
    normalize_name,
    normalize_phone,
)
from fraud.normalize.data.prefectures import PREFECTURES
from fraud.normalize.data.variants import KANJI_VARIANTS
from fraud.types import IdKind, LineType, OrderSnapshot

AKASAKA = "東京都港区赤坂4-3-2"

# ---------------------------------------------------------------------------------------------------------------
# Addresses
# ---------------------------------------------------------------------------------------------------------------


def test_issue_requirement_chome_banchi_go_equals_full_width_hyphens():
    a = normalize_address("東京都港区赤坂4丁目3番地2号")
    b = normalize_address("東京都港区赤坂４－３－２")
    assert a.parsed and b.parsed
    assert a.key == b.key == AKASAKA
    assert a.prefecture == b.prefecture == "東京都"


SAME_ADDRESS = [
    ("東京都港区赤坂4丁目3番地2号", "東京都港区赤坂４－３－２"),
    ("東京都港区赤坂四丁目三番二号", "東京都港区赤坂4-3-2"),
    ("東京都港区赤坂4丁目3-2", "東京都港区赤坂4-3-2"),
    ("東京都港区赤坂４丁目３番地２号", "東京都港区赤坂4-3-2"),
    ("東京都港区赤坂4丁目3番2", "東京都港区赤坂4-3-2"),
    ("東京都港区赤坂4−3−2", "東京都港区赤坂4-3-2"),  # U+2212 minus (NFKC leaves it)
    ("東京都港区赤坂4ー3ー2", "東京都港区赤坂4-3-2"),  # katakana long vowel
    ("東京都港区赤坂4ｰ3ｰ2", "東京都港区赤坂4-3-2"),  # half-width long vowel
    ("東京都港区赤坂4‐3‐2", "東京都港区赤坂4-3-2"),  # U+2010 hyphen
    ("東京都港区赤坂4―3―2", "東京都港区赤坂4-3-2"),  # U+2015 horizontal bar
    ("東京都港区赤坂4–3—2", "東京都港区赤坂4-3-2"),  # en and em dash
    ("東京都港区赤坂4‑3⁃2", "東京都港区赤坂4-3-2"),  # non-breaking hyphen, hyphen bullet
    ("東京都港区赤坂4﹣3₋2", "東京都港区赤坂4-3-2"),  # small hyphen-minus, subscript minus
    ("東京都 港区 赤坂 4 - 3 - 2", "東京都港区赤坂4-3-2"),
    ("東京都　港区　赤坂　４－３－２", "東京都港区赤坂4-3-2"),  # ideographic spaces
    ("東京都港区赤坂\t4-3-2\n", "東京都港区赤坂4-3-2"),
    ("東京都港区赤坂4の3の2", "東京都港区赤坂4-3-2"),
    ("東京都港区赤坂4ノ3ノ2", "東京都港区赤坂4-3-2"),
    ("東京都港区赤坂四丁目三-二", "東京都港区赤坂4-3-2"),
    ("東京都港区赤坂4丁目3番二", "東京都港区赤坂4-3-2"),
    ("東京都港区赤坂4 3 2", "東京都港区赤坂4-3-2"),
    ("東京都港区赤坂4-3-2 赤坂ビル5F 501号室", "東京都港区赤坂4丁目3番地2号"),
    ("東京都港区赤坂4-3-2-501", "東京都港区赤坂4丁目3番2号 501号室"),
    ("〒107-0052 東京都港区赤坂4-3-2", "東京都港区赤坂4-3-2"),
    ("1070052東京都港区赤坂四丁目3番地2号", "東京都港区赤坂4-3-2"),
    ("日本 東京都港区赤坂4-3-2", "東京都港区赤坂4-3-2"),
    ("東京都千代田区霞が関1-2-3", "東京都千代田区霞ヶ関一丁目2番3号"),
    ("東京都千代田区霞ケ関1-2-3", "東京都千代田区霞ヶ関1-2-3"),
    ("東京都目黒区自由が丘1-2-3", "東京都目黒区自由ヶ丘一丁目2番3号"),
    ("東京都千代田区丸の内1-9-1", "東京都千代田区丸ノ内一丁目9番1号"),
    ("茨城県つくば市大字上野字下田123番地の4", "茨城県つくば市上野下田123-4"),
    ("茨城県つくば市上野下田百二十三番地四", "茨城県つくば市上野下田123-4"),
    ("大阪府堺市堺区南瓦町3番地の1", "大阪府堺市堺区南瓦町3-1"),
    ("大阪府大阪市北区梅田３丁目１番３号", "大阪府大阪市北区梅田3-1-3"),
    ("北海道札幌市中央区北一条西二丁目1番1号", "北海道札幌市中央区北1条西2-1-1"),
    ("岩手県岩手郡雫石町長山第二地割5", "岩手県岩手郡雫石町長山第2地割5"),
    ("東京都港区麻布十番一丁目二番三号", "東京都港区麻布十番1-2-3"),
    ("東京都千代田区九段南一丁目2番1号", "東京都千代田区九段南1-2-1"),
    ("神奈川県川﨑市川﨑区駅前本町1-2", "神奈川県川崎市川崎区駅前本町1-2"),  # variant kanji
    ("東京都葛\U000e0100飾区金町1-2-3", "東京都葛飾区金町1-2-3"),  # ideographic variation selector
    ("東京都千代田区千代田千二百三十四番地", "東京都千代田区千代田1234"),
]


@pytest.mark.parametrize(("a", "b"), SAME_ADDRESS)
def test_address_variants_give_one_key(a, b):
    na, nb = normalize_address(a), normalize_address(b)
    assert na.parsed and nb.parsed
    assert na.key == nb.key
    assert na.key != ""


DIFFERENT_ADDRESS = [
    ("東京都港区赤坂4-3-2", "東京都港区赤坂4-3-3"),  # 号
    ("東京都港区赤坂4丁目3番地2号", "東京都港区赤坂4丁目4番地2号"),  # 番地
    ("東京都港区赤坂四丁目三番二号", "東京都港区赤坂五丁目三番二号"),  # 丁目
    ("東京都港区赤坂4-3-2", "東京都港区六本木4-3-2"),  # town
    ("東京都港区赤坂4-3-2", "東京都中央区赤坂4-3-2"),  # ward
    ("東京都港区麻布十番1-2-3", "東京都港区麻布十番1-2-4"),  # 十番 is a name, not the 番地
    ("東京都千代田区一番町5-3", "東京都千代田区二番町5-3"),
    ("北海道札幌市中央区北1条西2-1-1", "北海道札幌市中央区北2条西1-1-1"),
    ("大阪府大阪市北区梅田3-1-3", "大阪府大阪市北区梅田3-1"),
    ("東京都港区赤坂4-3-2-501", "東京都港区赤坂4-3-25"),
    ("東京都港区三田3-5-27", "東京都港区三田3-5-28"),
    ("茨城県つくば市上野下田123-4", "茨城県つくば市上野下田124-3"),
]


@pytest.mark.parametrize(("a", "b"), DIFFERENT_ADDRESS)
def test_different_addresses_give_different_keys(a, b):
    na, nb = normalize_address(a), normalize_address(b)
    assert na.parsed and nb.parsed
    assert na.key != nb.key


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("東京都港区三田三丁目5-27", "東京都港区三田3-5-27"),
        ("東京都新宿区四谷一丁目2番3号", "東京都新宿区四谷1-2-3"),
        ("東京都千代田区九段南一丁目2番1号", "東京都千代田区九段南1-2-1"),
        ("新潟県十日町市本町二丁目3番地", "新潟県十日町市本町2-3"),
        ("愛知県一宮市本町四丁目5-6", "愛知県一宮市本町4-5-6"),
        ("東京都八王子市元本郷町三丁目24番1号", "東京都八王子市元本郷町3-24-1"),
        ("三重県四日市市諏訪町1-5", "三重県四日市市諏訪町1-5"),
        ("東京都千代田区一番町5-3", "東京都千代田区一番町5-3"),
        ("東京都台東区三ノ輪二丁目3番4号", "東京都台東区三ノ輪2-3-4"),
        ("東京都港区麻布十番一丁目二番三号", "東京都港区麻布十番1-2-3"),
        ("東京都港区麻布十番1-2-3", "東京都港区麻布十番1-2-3"),
        ("東京都港区六本木六丁目10番1号", "東京都港区六本木6-10-1"),
        ("東京都品川区西五反田八丁目1-5", "東京都品川区西五反田8-1-5"),
        ("東京都千代田区千代田1-1", "東京都千代田区千代田1-1"),
        ("東京都北区十条仲原三丁目1-1", "東京都北区十条仲原3-1-1"),
        ("千葉県八千代市八千代台東一丁目2-3", "千葉県八千代市八千代台東1-2-3"),
        ("東京都中央区日本橋一丁目1-1", "東京都中央区日本橋1-1-1"),
        ("中央区日本橋1-1-1", "中央区日本橋1-1-1"),  # 日本 is stripped only before a prefecture
    ],
)
def test_kanji_place_names_are_not_turned_into_digits(text, key):
    assert normalize_address(text).key == key


@pytest.mark.parametrize(
    ("text", "key", "building"),
    [
        ("東京都港区赤坂4-3-2 赤坂ビル5F 501号室", AKASAKA, "赤坂ビル5F501"),
        ("東京都港区赤坂4丁目3番2号赤坂ビル5階501号室", AKASAKA, "赤坂ビル5F501"),
        ("東京都港区赤坂４－３－２　赤坂ビル　５Ｆ　５０１", AKASAKA, "赤坂ビル5F501"),
        ("東京都港区赤坂4-3-2 赤坂ビル五〇一号室", AKASAKA, "赤坂ビル501"),
        ("東京都港区赤坂4-3-2-501", AKASAKA, "501"),
        ("東京都港区赤坂4-3-2 501", AKASAKA, "501"),
        ("東京都港区赤坂4-3-2 501号室", AKASAKA, "501"),
        ("東京都港区赤坂4-3-2 #501", AKASAKA, "501"),
        ("東京都港区赤坂4-3-2、赤坂ビル", AKASAKA, "赤坂ビル"),
        ("東京都港区赤坂4-3-2 センタービル3F", AKASAKA, "センタービル3F"),  # ー in a name is kept
        ("東京都港区赤坂4-3-2 パークハウス赤坂 1203", AKASAKA, "パークハウス赤坂1203"),
        ("東京都港区赤坂4-3-2 赤坂ハイツ A棟 101号室", AKASAKA, "赤坂ハイツA棟101"),
        ("東京都港区赤坂4-3-2 3号棟 101", AKASAKA, "3号棟101"),
        ("港区赤坂4-3 2F", "港区赤坂4-3", "2F"),
        ("東京都港区赤坂4-3-2", AKASAKA, ""),
        ("東京都港区赤坂4丁目3番地2号", AKASAKA, ""),
    ],
)
def test_building_and_room_are_separated_from_the_key(text, key, building):
    a = normalize_address(text)
    assert a.parsed
    assert a.key == key
    assert a.building == building


def test_room_variants_of_one_flat_give_one_building():
    forms = ["赤坂4-3-2-501", "赤坂4-3-2 501", "赤坂4-3-2 501号室", "赤坂4丁目3番2号501号室", "赤坂4-3-2 #501"]
    results = {(normalize_address(f).key, normalize_address(f).building) for f in forms}
    assert results == {("赤坂4-3-2", "501")}


@pytest.mark.parametrize(
    ("text", "postal_arg", "postal"),
    [
        (AKASAKA, "107-0052", "1070052"),
        (AKASAKA, "1070052", "1070052"),
        (AKASAKA, "１０７－００５２", "1070052"),
        (AKASAKA, "〒107-0052", "1070052"),
        (AKASAKA, "107 0052", "1070052"),
        ("〒107-0052 東京都港区赤坂4-3-2", None, "1070052"),
        ("〒1070052東京都港区赤坂4-3-2", None, "1070052"),
        ("107-0052 東京都港区赤坂4-3-2", None, "1070052"),
        ("1070052 東京都港区赤坂4-3-2", None, "1070052"),
        ("〒１０７－００５２　東京都港区赤坂４－３－２", None, "1070052"),
        ("郵便番号107-0052 東京都港区赤坂4-3-2", None, "1070052"),
        ("東京都港区赤坂4-3-2 〒107-0052", None, "1070052"),
        ("〒100-0001 東京都港区赤坂4-3-2", "107-0052", "1070052"),  # the argument wins
        ("〒107-0052 東京都港区赤坂4-3-2", "12-345", "1070052"),  # a bad argument falls back to the text
        (AKASAKA, None, None),
        (AKASAKA, "107-005", None),
        (AKASAKA, "", None),
    ],
)
def test_postal_code_forms(text, postal_arg, postal):
    a = normalize_address(text, postal_arg)
    assert a.postal_code == postal
    assert a.key == AKASAKA  # the postal code never leaks into the key


@pytest.mark.parametrize("prefecture", PREFECTURES)
def test_each_prefecture_is_detected_and_kept_in_the_key(prefecture):
    a = normalize_address(f"{prefecture}中央市本町1丁目2番3号")
    assert a.prefecture == prefecture
    assert a.key == f"{prefecture}中央市本町1-2-3"


def test_there_are_47_prefectures():
    assert len(set(PREFECTURES)) == 47


def test_address_without_prefecture_keeps_a_key_without_it():
    with_pref = normalize_address("東京都港区赤坂4丁目3番地2号")
    without = normalize_address("港区赤坂4-3-2")
    assert without.parsed
    assert without.prefecture is None
    assert without.key == "港区赤坂4-3-2"
    assert with_pref.key != without.key  # documented choice: no prefecture is inferred
    assert key_without_prefecture(with_pref) == key_without_prefecture(without) == "港区赤坂4-3-2"


@pytest.mark.parametrize("text", ["京都市中京区烏丸通1-2", "大阪市北区梅田3-1-3", "札幌市中央区北1条西2-1-1"])
def test_city_names_that_start_like_a_prefecture_are_not_prefectures(text):
    a = normalize_address(text)
    assert a.prefecture is None
    assert a.parsed


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "あいうえお",
        "東京都",
        "東京都港区赤坂",
        "12345",
        "4-3-2",
        "赤坂ビル501号室",
        "東京都港区赤坂ビル5F",
        "???",
    ],
)
def test_unparseable_addresses(text):
    a = normalize_address(text)
    assert a.parsed is False
    assert a.key == ""


def test_overlong_or_hostile_address_text_is_not_parsed():
    assert not normalize_address("東京都港区赤坂4-3-2 " + "ビ" * 300).parsed
    # Whitespace floods and long numeral runs are handled in linear-ish time (these took minutes before the cap).
    assert normalize_address(" " * 5000 + "赤坂4-3-2").key == "赤坂4-3-2"
    assert not normalize_address("四" * 2000 + "番" + "一" * 2000).parsed


def test_unparseable_address_still_reports_prefecture_and_postal_code():
    a = normalize_address("〒107-0052 東京都港区赤坂")
    assert not a.parsed
    assert a.prefecture == "東京都"
    assert a.postal_code == "1070052"


# ---------------------------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------------------------

SAME_NAME = [
    (("山田 太郎", "やまだ たろう"), ("山田太郎", "ヤマダタロウ")),
    (("x", "ﾔﾏﾀﾞ ﾀﾛｳ"), ("y", "ヤマダタロウ")),
    (("x", "ヤマダ・タロウ"), ("y", "ヤマダタロウ")),
    (("x", "ヤマダ　タロウ"), ("y", "ヤマダタロウ")),
    (("x", "やまだ　たろう"), ("y", "ヤマダ タロウ")),
    (("x", "ｷｮｳｺ"), ("y", "きょうこ")),
    (("x", "ｼﾞｮﾝ ｽﾐｽ"), ("y", "ジョン＝スミス")),
    (("やまだ たろう", None), ("x", "ヤマダタロウ")),  # a name written in hiragana meets the reading
    (("山田　太郎", None), ("山田太郎", None)),
    (("山田 太郎 様", None), ("山田太郎", None)),
    (("髙橋一郎", None), ("高橋一郎", None)),
    (("山﨑花子", None), ("山崎花子", None)),
    (("山嵜花子", None), ("山崎花子", None)),
    (("渡邊健", None), ("渡辺健", None)),
    (("渡邉健", None), ("渡辺健", None)),
    (("齋藤 恵", None), ("斎藤恵", None)),
    (("齊藤惠", None), ("斎藤恵", None)),
    (("濱田", None), ("浜田", None)),
    (("澤田", None), ("沢田", None)),
    (("廣瀬", None), ("広瀬", None)),
    (("櫻井", None), ("桜井", None)),
    (("國分", None), ("国分", None)),
    (("德川", None), ("徳川", None)),
    (("眞鍋", None), ("真鍋", None)),
    (("大藏", None), ("大蔵", None)),
    (("冨田", None), ("富田", None)),
    (("曻", None), ("昇", None)),
    (("John Smith", None), ("ＪＯＨＮ　ＳＭＩＴＨ", None)),
    (("john smith", None), ("JOHN SMITH", None)),
    (("山田太郎", "  "), ("山田太郎", None)),  # a blank reading falls back to the name
]


@pytest.mark.parametrize(("a", "b"), SAME_NAME)
def test_name_variants_give_one_key(a, b):
    na, nb = normalize_name(*a), normalize_name(*b)
    assert na.parsed and nb.parsed
    assert na.key == nb.key


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("x", "キヨウコ"), ("x", "キョウコ")),  # small kana are kept
        (("x", "ヤマダタロウ"), ("x", "ヤマダハナコ")),
        (("x", "ハシモト"), ("x", "バシモト")),
        (("山田太郎", None), ("山田次郎", None)),
        (("高橋", None), ("高嶋", None)),
    ],
)
def test_different_names_give_different_keys(a, b):
    assert normalize_name(*a).key != normalize_name(*b).key


def test_name_key_is_katakana_without_spaces():
    assert normalize_name("山田 太郎", "やまだ　たろう").key == "ヤマダタロウ"
    assert normalize_name("ｶﾞｯﾂ 石松").key == "ガッツ石松"


@pytest.mark.parametrize(("variant", "standard"), sorted(KANJI_VARIANTS.items()))
def test_variant_kanji_table(variant, standard):
    assert normalize_name(f"山{variant}").key == f"山{standard}"
    assert normalize_address(f"東京都{variant}市本町1-2-3").key == f"東京都{standard}市本町1-2-3"


@pytest.mark.parametrize(("name", "kana"), [("", None), ("   ", None), ("", ""), ("　", "　")])
def test_empty_name_is_not_parsed(name, kana):
    n = normalize_name(name, kana)
    assert n.parsed is False
    assert n.key == ""


# ---------------------------------------------------------------------------------------------------------------
# Phones
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "e164", "line_type", "country"),
    [
        ("090-1234-5678", "+819012345678", LineType.MOBILE, "JP"),
        ("09012345678", "+819012345678", LineType.MOBILE, "JP"),
        ("０９０－１２３４－５６７８", "+819012345678", LineType.MOBILE, "JP"),
        ("(090)1234-5678", "+819012345678", LineType.MOBILE, "JP"),
        ("090 1234 5678", "+819012345678", LineType.MOBILE, "JP"),
        ("+81 90-1234-5678", "+819012345678", LineType.MOBILE, "JP"),
        ("+819012345678", "+819012345678", LineType.MOBILE, "JP"),
        ("＋８１　９０　１２３４　５６７８", "+819012345678", LineType.MOBILE, "JP"),
        ("+81(0)90-1234-5678", "+819012345678", LineType.MOBILE, "JP"),
        ("080-1234-5678", "+818012345678", LineType.MOBILE, "JP"),
        ("070-1234-5678", "+817012345678", LineType.MOBILE, "JP"),
        ("03-1234-5678", "+81312345678", LineType.FIXED, "JP"),
        ("(03)1234-5678", "+81312345678", LineType.FIXED, "JP"),
        ("+81-3-1234-5678", "+81312345678", LineType.FIXED, "JP"),
        ("06-6123-4567", "+81661234567", LineType.FIXED, "JP"),
        ("0466-12-3456", "+81466123456", LineType.FIXED, "JP"),
        ("050-1234-5678", "+815012345678", LineType.IP_PHONE, "JP"),
        ("0120-123-456", "+81120123456", LineType.TOLL_FREE, "JP"),
        ("0800-123-4567", "+818001234567", LineType.TOLL_FREE, "JP"),
        ("0570-012-345", "+81570012345", LineType.OTHER, "JP"),  # ナビダイヤル (UAN)
        ("+1 650-253-0000", "+16502530000", LineType.FIXED, "US"),  # FIXED_LINE_OR_MOBILE outside Japan
        ("+44 20 7946 0958", "+442079460958", LineType.FIXED, "GB"),
    ],
)
def test_phone_numbers(text, e164, line_type, country):
    p = normalize_phone(text)
    assert p is not None
    assert p.e164 == e164
    assert p.line_type is line_type
    assert p.country == country


@pytest.mark.parametrize("text", ["12345", "090-1234-567", "090-1234-56789", "abc", "0000000000", "+", "電話なし"])
def test_invalid_phone_numbers(text):
    p = normalize_phone(text)
    assert p is not None
    assert p.line_type is LineType.INVALID
    assert p.e164 is None
    assert p.country is None


@pytest.mark.parametrize("text", [None, "", "   ", "　"])
def test_no_phone_number(text):
    assert normalize_phone(text) is None


# ---------------------------------------------------------------------------------------------------------------
# E-mail
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "domain"),
    [
        ("taro@example.com", "taro@example.com", "example.com"),
        ("Taro@Example.COM", "taro@example.com", "example.com"),
        ("  taro@example.com  ", "taro@example.com", "example.com"),
        ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ", "taro@example.com", "example.com"),
        ("taro+shop@example.com", "taro@example.com", "example.com"),
        ("taro+a+b@example.com", "taro@example.com", "example.com"),
        ("taro.yamada@example.com", "taro.yamada@example.com", "example.com"),  # dots matter elsewhere
        ("taro@example.com.", "taro@example.com", "example.com"),
        ("Taro.Yamada@gmail.com", "taroyamada@gmail.com", "gmail.com"),
        ("taroyamada@gmail.com", "taroyamada@gmail.com", "gmail.com"),
        ("t.a.r.o.y.a.m.a.d.a+x@googlemail.com", "taroyamada@gmail.com", "gmail.com"),
        ("TARO.YAMADA+2024@GMAIL.COM", "taroyamada@gmail.com", "gmail.com"),
        ("taro..yamada.@docomo.ne.jp", "taro..yamada.@docomo.ne.jp", "docomo.ne.jp"),  # carrier quirk accepted
        ("taro@ezweb.ne.jp", "taro@ezweb.ne.jp", "ezweb.ne.jp"),
    ],
)
def test_email_canonical_mailbox(text, key, domain):
    e = normalize_email(text)
    assert e is not None
    assert e.valid
    assert e.key == key
    assert e.domain == domain
    assert e.disposable is False


def test_gmail_dot_and_plus_variants_are_one_mailbox():
    forms = [
        "taroyamada@gmail.com",
        "taro.yamada@gmail.com",
        "Taro.Yamada+shop@googlemail.com",
        "t.aroyamada@gmail.com",
    ]
    assert {normalize_email(f).key for f in forms} == {"taroyamada@gmail.com"}


def test_disposable_domains():
    sample = sorted(blocklist)[0]
    assert normalize_email(f"x@{sample}").disposable
    assert normalize_email("x@mailinator.com").disposable
    assert normalize_email("x@MAILINATOR.COM").disposable
    assert normalize_email("x@mx.mailinator.com").disposable  # parent domain on the list
    assert not normalize_email("x@gmail.com").disposable
    assert not normalize_email("x@docomo.ne.jp").disposable


@pytest.mark.parametrize(
    "text",
    [
        "taro",
        "taro@",
        "@example.com",
        "taro@example",
        "ta ro@example.com",
        "taro@exa mple.com",
        "taro@@example.com",
        "taro@example..com",
        "taro@-example.com",
        "<taro>@example.com",
    ],
)
def test_invalid_emails(text):
    e = normalize_email(text)
    assert e is not None
    assert e.valid is False
    assert e.key is None


def test_overlong_email_is_invalid():
    e = normalize_email("a@" + "b." * 200 + "com")
    assert e.valid is False
    assert e.key is None


@pytest.mark.parametrize("text", [None, "", "  "])
def test_no_email(text):
    assert normalize_email(text) is None


# ---------------------------------------------------------------------------------------------------------------
# IP
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("8.8.8.8", "US"),
        (" 8.8.8.8 ", "US"),
        ("133.1.1.1", "JP"),
        ("::ffff:133.1.1.1", "JP"),
        ("2001:4860:4860::8888", "US"),
        ("10.0.0.1", None),
        ("192.168.1.1", None),
        ("172.16.0.1", None),
        ("127.0.0.1", None),
        ("100.64.0.1", None),
        ("::1", None),
        ("fe80::1", None),
        ("not an ip", None),
        ("999.1.1.1", None),
        ("", None),
        (None, None),
    ],
)
def test_ip_country(ip, country):
    assert ip_country(ip) == country


def test_canonical_ip():
    assert canonical_ip("2001:DB8:0:0::1") == "2001:db8::1"
    assert canonical_ip("::ffff:8.8.8.8") == "8.8.8.8"
    assert canonical_ip(" 8.8.8.8") == "8.8.8.8"
    assert canonical_ip("nope") is None
    assert canonical_ip(None) is None


# ---------------------------------------------------------------------------------------------------------------
# Identity
# ---------------------------------------------------------------------------------------------------------------


def _snapshot(**kw) -> OrderSnapshot:
    base = dict(
        amount=12_800,
        currency="JPY",
        buyer_name="山田 太郎",
        buyer_name_kana="やまだ たろう",
        email="Taro.Yamada+shop@gmail.com",
        phone="０９０－１２３４－５６７８",
        billing_postal_code="107-0052",
        billing_address="東京都港区赤坂4丁目3番地2号 赤坂ビル501号室",
        ip="::ffff:133.1.1.1",
        device_id=" dev-1 ",
        ordered_at=dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC),
    )
    base.update(kw)
    return OrderSnapshot(**base)


def test_build_identity_normalises_every_field():
    ident = build_identity(_snapshot())
    assert ident.name.key == "ヤマダタロウ"
    assert ident.billing_address.key == AKASAKA
    assert ident.billing_address.building == "赤坂ビル501"
    assert ident.billing_address.postal_code == "1070052"
    assert ident.shipping_address is None
    assert ident.delivery_address is ident.billing_address
    assert ident.phone.e164 == "+819012345678"
    assert ident.phone.line_type is LineType.MOBILE
    assert ident.email.key == "taroyamada@gmail.com"
    assert ident.ip == "133.1.1.1"
    assert ident.ip_country == "JP"
    assert ident.device_id == "dev-1"
    assert ident.keys() == {
        IdKind.ADDRESS: AKASAKA,
        IdKind.NAME: "ヤマダタロウ",
        IdKind.PHONE: "+819012345678",
        IdKind.EMAIL: "taroyamada@gmail.com",
        IdKind.DEVICE: "dev-1",
        IdKind.IP: "133.1.1.1",
    }


def test_two_spellings_of_one_order_give_the_same_keys():
    a = build_identity(_snapshot())
    b = build_identity(
        _snapshot(
            buyer_name="山田太郎",
            buyer_name_kana="ﾔﾏﾀﾞ ﾀﾛｳ",
            email="taroyamada@googlemail.com",
            phone="+81 90 1234 5678",
            billing_postal_code=None,
            billing_address="〒107-0052 東京都港区赤坂四丁目三番二号",
            ip="133.1.1.1",
            device_id="dev-1",
        )
    )
    assert a.keys() == b.keys()


def test_shipping_address_is_normalised_separately():
    ident = build_identity(
        _snapshot(shipping_address="大阪府大阪市北区梅田３丁目１番３号", shipping_postal_code="530-0001")
    )
    assert ident.shipping_address is not None
    assert ident.shipping_address.key == "大阪府大阪市北区梅田3-1-3"
    assert ident.shipping_address.postal_code == "5300001"
    assert ident.delivery_address.key == "大阪府大阪市北区梅田3-1-3"
    assert ident.billing_address.key == AKASAKA
    assert ident.keys()[IdKind.ADDRESS] == "大阪府大阪市北区梅田3-1-3"


@pytest.mark.parametrize("shipping", [None, "", "   "])
def test_blank_shipping_address_ships_to_billing(shipping):
    ident = build_identity(_snapshot(shipping_address=shipping))
    assert ident.shipping_address is None
    assert ident.delivery_address.key == AKASAKA


def test_identity_without_optional_fields():
    ident = build_identity(
        OrderSnapshot(amount=1000, currency="JPY", buyer_name="山田太郎", billing_address="東京都港区赤坂4-3-2")
    )
    assert ident.name.key == "山田太郎"  # no reading: the key comes from the name
    assert ident.phone is None
    assert ident.email is None
    assert ident.ip is None
    assert ident.ip_country is None
    assert ident.device_id is None
    assert set(ident.keys()) == {IdKind.ADDRESS, IdKind.NAME}


def test_identity_with_an_unparseable_address_and_bad_ip():
    ident = build_identity(_snapshot(billing_address="東京都港区赤坂", ip="not-an-ip", phone="123", email="nope"))
    assert ident.billing_address.parsed is False
    assert IdKind.ADDRESS not in ident.keys()
    assert ident.ip == "not-an-ip"  # kept as sent: still an identifier
    assert ident.ip_country is None
    assert ident.phone.line_type is LineType.INVALID
    assert IdKind.PHONE not in ident.keys()
    assert ident.email.valid is False
    assert IdKind.EMAIL not in ident.keys()


@pytest.mark.parametrize(
    "text",
    [
        "090-1234-5678",
        "03-1234-5678",
        "050-1234-5678",
        "0120-123-456",
        "0570-012-345",
        "020-1234-5678",
        "090-1234-567",
        "12345",
        "+1 650-253-0000",
        "+1 999-999-9999",
        "+44 20 7946 0958",
        "+81 12-3456",
        "+86 138 0013 8000",
        "0000000000",
    ],
)
def test_phone_validity_agrees_with_phonenumbers_is_valid_number(text):
    import phonenumbers

    expected = phonenumbers.is_valid_number(phonenumbers.parse(text, "JP"))
    assert (normalize_phone(text).line_type is not LineType.INVALID) == expected
