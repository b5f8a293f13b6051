"""Each signal fires at its threshold and not just below it; thresholds come from the policy's params."""

from __future__ import annotations

import pytest

from fraud.policy import Params, default_policy
from fraud.reasons import REASONS
from fraud.signals import evaluate_signals, is_bot_user_agent, primary_language
from fraud.types import IdKind, LineType, Window
from tests.fraud import screening_builders as b

P = default_policy().params


def fired(*, params: Params = P, **parts) -> dict:
    return evaluate_signals(
        parts.get("snapshot", b.snapshot()),
        parts.get("identity", b.identity()),
        parts.get("history", b.history()),
        parts.get("lists", b.lists()),
        parts.get("external", b.external()),
        params,
    )


def test_a_clean_order_fires_nothing():
    assert fired() == {}


def test_the_policy_itself_is_accepted_for_its_params():
    assert evaluate_signals(
        b.snapshot(), b.identity(ip_country="US"), b.history(), b.lists(), b.external(), default_policy()
    ) == {"overseas_ip": True}


# -- identity --------------------------------------------------------------------------------------------------


def test_phone_missing():
    assert fired(identity=b.identity(phone=None)) == {"phone_missing": True}


@pytest.mark.parametrize("phone", [b.phone(e164=None, line_type=LineType.INVALID), b.phone(line_type=LineType.INVALID)])
def test_phone_invalid(phone):
    assert fired(identity=b.identity(phone=phone)) == {"phone_invalid": True}


def test_phone_ip_phone():
    assert fired(identity=b.identity(phone=b.phone(e164="+815012345678", line_type=LineType.IP_PHONE))) == {
        "phone_ip_phone": True
    }


@pytest.mark.parametrize("line_type", [LineType.MOBILE, LineType.FIXED])
def test_ordinary_phones_fire_nothing(line_type):
    assert fired(identity=b.identity(phone=b.phone(line_type=line_type))) == {}


def test_email_invalid_and_disposable():
    assert fired(identity=b.identity(email=b.email(key=None, valid=False))) == {"email_invalid": True}
    assert fired(identity=b.identity(email=b.email(domain="mailinator.com", disposable=True))) == {
        "email_disposable": True
    }


def test_no_email_is_not_a_signal():
    assert fired(identity=b.identity(email=None)) == {}


def test_name_unparseable():
    from fraud.types import NormalizedName

    assert fired(identity=b.identity(name=NormalizedName(key="", parsed=False))) == {"name_unparseable": True}


# -- address ---------------------------------------------------------------------------------------------------


def test_address_unparseable_billing_or_shipping():
    bad = b.address(key="", parsed=False, prefecture=None, postal_code=None)
    assert "address_unparseable" in fired(identity=b.identity(billing_address=bad))
    assert "address_unparseable" in fired(identity=b.identity(shipping_address=bad))
    assert "address_unparseable" not in fired(
        identity=b.identity(shipping_address=b.address(b.ELSEWHERE)), history=b.history(address_known_for_buyer=True)
    )


@pytest.mark.parametrize(
    ("category", "code"),
    [
        ("hotel", "address_hotel"),
        ("weekly_mansion", "address_weekly_mansion"),
        ("vacant", "address_vacant"),
        ("po_box", "address_po_box"),
        ("forwarding", "address_forwarding"),
    ],
)
def test_external_address_categories(category, code):
    assert fired(external=b.external(category)) == {code: True}


def test_unknown_external_categories_are_ignored():
    assert fired(external=b.external("castle")) == {}


# -- velocity --------------------------------------------------------------------------------------------------

VELOCITY = [
    ("velocity_address_1h", IdKind.ADDRESS, Window.HOUR),
    ("velocity_phone_24h", IdKind.PHONE, Window.DAY),
    ("velocity_email_24h", IdKind.EMAIL, Window.DAY),
    ("velocity_device_24h", IdKind.DEVICE, Window.DAY),
    ("velocity_ip_1h", IdKind.IP, Window.HOUR),
]


@pytest.mark.parametrize(("code", "kind", "window"), VELOCITY)
def test_velocity_fires_at_its_threshold_not_below(code, kind, window):
    threshold = getattr(P, code)
    assert fired(history=b.history({(kind, window): threshold - 1})) == {}
    assert fired(history=b.history({(kind, window): threshold})) == {code: threshold}


@pytest.mark.parametrize(("code", "kind", "window"), VELOCITY)
def test_velocity_in_another_window_does_not_count(code, kind, window):
    other = Window.WEEK
    assert fired(history=b.history({(kind, other): 50})) == {}


def test_velocity_thresholds_come_from_params():
    params = Params(velocity_address_1h=5)
    counts = {(IdKind.ADDRESS, Window.HOUR): 4}
    assert fired(history=b.history(counts), params=params) == {}
    assert fired(history=b.history(counts)) == {"velocity_address_1h": 4}


# -- device ----------------------------------------------------------------------------------------------------


def test_overseas_ip():
    assert fired(identity=b.identity(ip_country="US")) == {"overseas_ip": True}
    assert fired(identity=b.identity(ip_country="JP")) == {}
    assert fired(identity=b.identity(ip_country=None)) == {}
    assert fired(identity=b.identity(ip_country="US"), params=Params(domestic_ip_countries=["JP", "US"])) == {}


@pytest.mark.parametrize("header", ["en-US,en;q=0.9", "zh-CN,zh;q=0.9,ja;q=0.8", "vi", "en-US,ja-JP"])
def test_language_mismatch_when_the_first_language_is_not_japanese(header):
    assert fired(snapshot=b.snapshot(accept_language=header)) == {"language_mismatch": True}


@pytest.mark.parametrize("header", ["ja-JP,ja;q=0.9,en-US;q=0.8", "ja", "JA-jp", " ja ; q=1", "ja_JP", "*", "", None])
def test_no_language_mismatch(header):
    assert fired(snapshot=b.snapshot(accept_language=header)) == {}


def test_language_and_timezone_only_matter_for_a_japanese_delivery_address():
    foreign = b.identity(shipping_address=b.address(key="1 Main St", prefecture=None, postal_code=None))
    order = b.snapshot(accept_language="en-US", timezone="America/New_York")
    assert fired(snapshot=order, identity=foreign, history=b.history(address_known_for_buyer=True)) == {}


def test_languages_come_from_params():
    assert fired(snapshot=b.snapshot(accept_language="en-US"), params=Params(japanese_languages=["ja", "en"])) == {}


@pytest.mark.parametrize("tz", ["America/Los_Angeles", "Asia/Shanghai", "UTC", "0", "-540", "480", "nonsense"])
def test_timezone_mismatch(tz):
    assert fired(snapshot=b.snapshot(timezone=tz)) == {"timezone_mismatch": True}


@pytest.mark.parametrize("tz", ["Asia/Tokyo", "asia/tokyo", "Japan", "540", "+540", " 540 ", "", None])
def test_no_timezone_mismatch(tz):
    assert fired(snapshot=b.snapshot(timezone=tz)) == {}


def test_timezones_come_from_params():
    params = Params(japanese_timezones=["Asia/Seoul"], japanese_utc_offsets=[540])
    assert fired(snapshot=b.snapshot(timezone="Asia/Tokyo"), params=params) == {"timezone_mismatch": True}
    assert fired(snapshot=b.snapshot(timezone="Asia/Seoul"), params=params) == {}


@pytest.mark.parametrize(
    "ua",
    [
        "python-requests/2.31.0",
        "curl/8.4.0",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
    ],
)
def test_bot_user_agent(ua):
    assert fired(snapshot=b.snapshot(user_agent=ua)) == {"bot_user_agent": True}


def test_browsers_are_not_bots():
    iphone = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.0 Mobile/15E148 Safari/604.1"
    )
    assert fired(snapshot=b.snapshot(user_agent=iphone)) == {}
    assert fired(snapshot=b.snapshot(user_agent=b.CHROME_UA)) == {}


@pytest.mark.parametrize("ua", [None, "", "   "])
def test_missing_user_agent(ua):
    assert fired(snapshot=b.snapshot(user_agent=ua)) == {"missing_user_agent": True}


def test_the_bot_verdict_is_cached_per_user_agent():
    ua = "Mozilla/5.0 (compatible; cache-probe/1.0; +https://example.test/bot)"
    is_bot_user_agent(ua)
    before = is_bot_user_agent.cache_info().hits
    assert is_bot_user_agent(ua) is True
    assert is_bot_user_agent.cache_info().hits == before + 1


def test_primary_language():
    assert primary_language("ja-JP,ja;q=0.9") == "ja"
    assert primary_language("en-US") == "en"
    assert primary_language("") == ""


@pytest.mark.parametrize(
    ("code", "field"),
    [
        ("device_shared_across_identities", "identities_for_device"),
        ("ip_shared_across_identities", "identities_for_ip"),
    ],
)
def test_shared_device_and_ip_at_threshold(code, field):
    threshold = getattr(P, code)
    assert fired(history=b.history(**{field: threshold - 1})) == {}
    assert fired(history=b.history(**{field: threshold})) == {code: threshold}


# -- behaviour -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "field"),
    [("many_names_at_address", "names_at_address"), ("many_addresses_for_phone", "addresses_for_phone")],
)
def test_link_counts_at_threshold(code, field):
    threshold = getattr(P, code)
    assert fired(history=b.history(**{field: threshold - 1})) == {}
    assert fired(history=b.history(**{field: threshold})) == {code: threshold}


def test_first_order_high_amount_at_threshold():
    threshold = P.first_order_high_amount
    assert threshold < P.high_amount
    assert fired(snapshot=b.snapshot(amount=threshold - 1)) == {}
    assert fired(snapshot=b.snapshot(amount=threshold)) == {"first_order_high_amount": threshold}
    assert fired(snapshot=b.snapshot(amount=threshold), history=b.history(prior_orders=1)) == {}


def test_high_amount_at_threshold():
    returning = b.history(prior_orders=3)
    threshold = P.high_amount
    assert fired(snapshot=b.snapshot(amount=threshold - 1), history=returning) == {}
    assert fired(snapshot=b.snapshot(amount=threshold), history=returning) == {"high_amount": threshold}
    assert fired(snapshot=b.snapshot(amount=threshold)) == {
        "high_amount": threshold,
        "first_order_high_amount": threshold,
    }


def test_amounts_come_from_params():
    assert fired(snapshot=b.snapshot(amount=20_000), params=Params(first_order_high_amount=10_000)) == {
        "first_order_high_amount": 20_000
    }


def test_shipping_to_a_new_other_address():
    elsewhere = b.identity(shipping_address=b.address(b.ELSEWHERE))
    assert fired(identity=elsewhere) == {"shipping_differs_new_address": True}
    assert fired(identity=elsewhere, history=b.history(address_known_for_buyer=True)) == {}
    assert fired(identity=b.identity(shipping_address=b.address(b.HOME, building="赤坂ハイツ101"))) == {}
    assert fired(identity=b.identity(shipping_address=None)) == {}


def test_shipping_name_differs():
    assert fired(snapshot=b.snapshot(shipping_name="佐藤 花子")) == {"shipping_name_differs": True}


@pytest.mark.parametrize("name", ["山田 太郎", "山田　太郎", "山田太郎", "ヤマダ・タロウ", "ﾔﾏﾀﾞ ﾀﾛｳ", None, "  "])
def test_shipping_name_same_as_the_buyer(name):
    assert fired(snapshot=b.snapshot(shipping_name=name)) == {}


# -- lists -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(IdKind))
def test_negative_and_block_hits_per_kind(kind):
    assert fired(lists=b.lists(negative={kind})) == {f"negative_db_hit_{kind.value}": True}
    assert fired(lists=b.lists(block={kind})) == {f"block_list_{kind.value}": True}


def test_allow_list_detail_is_the_number_of_kinds():
    assert fired(lists=b.lists(allow={IdKind.PHONE, IdKind.EMAIL})) == {"allow_list": 2}


# -- the catalogue -----------------------------------------------------------------------------------------------


def test_every_reason_code_can_fire_and_nothing_else_does():
    seen: set[str] = set()
    cap = 50
    scenarios = [
        {
            "identity": b.identity(
                phone=None,
                email=b.email(valid=False, key=None, disposable=True),
                name=b.identity().name.__class__(key="", parsed=False),
                billing_address=b.address(parsed=False),
                ip_country="CN",
                shipping_address=b.address(b.ELSEWHERE),
            ),
            "snapshot": b.snapshot(
                amount=100_000,
                accept_language="zh-CN",
                timezone="Asia/Shanghai",
                user_agent=None,
                shipping_name="王 小明",
            ),
            "history": b.history(
                {(k, w): cap for _, k, w in VELOCITY},
                names_at_address=cap,
                addresses_for_phone=cap,
                identities_for_device=cap,
                identities_for_ip=cap,
            ),
            "lists": b.lists(allow=set(IdKind), block=set(IdKind), negative=set(IdKind)),
            "external": b.external("hotel", "weekly_mansion", "vacant", "po_box", "forwarding"),
        },
        {"identity": b.identity(phone=b.phone(line_type=LineType.INVALID))},
        {"identity": b.identity(phone=b.phone(line_type=LineType.IP_PHONE))},
        {"snapshot": b.snapshot(user_agent="curl/8.4.0")},
    ]
    for parts in scenarios:
        seen |= fired(**parts).keys()
    assert seen == set(REASONS)
