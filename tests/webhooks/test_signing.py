"""Signatures: what we send verifies with the endpoint's secret; tampering, other secrets and stale timestamps fail."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from domain.webhooks.signing import SignatureError, endpoint_secret, sign, verify

SECRET = "whsec_test"
BODY = b'{"id":"evt_1","type":"order.authorized","created_at":"2026-11-25T00:00:00Z","data":{}}'
T = 1_790_000_000


class TestSign:
    def test_is_the_hex_hmac_of_timestamp_dot_body(self):
        expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
        assert sign(SECRET, T, BODY) == f"t={T},v1={expected}"

    def test_accepts_text_bodies(self):
        assert sign(SECRET, T, BODY.decode()) == sign(SECRET, T, BODY)


class TestVerify:
    def test_accepts_a_fresh_signature_and_returns_its_timestamp(self):
        assert verify(SECRET, sign(SECRET, T, BODY), BODY, now=T + 10) == T

    @pytest.mark.parametrize("skew", [-300, 300])
    def test_accepts_the_edges_of_the_tolerance(self, skew):
        assert verify(SECRET, sign(SECRET, T, BODY), BODY, now=T + skew) == T

    @pytest.mark.parametrize("skew", [-301, 301, 3600])
    def test_refuses_timestamps_outside_the_tolerance(self, skew):
        with pytest.raises(SignatureError, match="tolerance"):
            verify(SECRET, sign(SECRET, T, BODY), BODY, now=T + skew)

    def test_a_custom_tolerance(self):
        header = sign(SECRET, T, BODY)
        assert verify(SECRET, header, BODY, now=T + 500, tolerance=600) == T
        with pytest.raises(SignatureError):
            verify(SECRET, header, BODY, now=T + 61, tolerance=60)

    def test_refuses_a_tampered_body(self):
        header = sign(SECRET, T, BODY)
        with pytest.raises(SignatureError, match="no signature matches"):
            verify(SECRET, header, BODY.replace(b"order.authorized", b"order.captured"), now=T)

    def test_refuses_a_tampered_timestamp(self):
        header = sign(SECRET, T, BODY).replace(f"t={T}", f"t={T + 1}")
        with pytest.raises(SignatureError, match="no signature matches"):
            verify(SECRET, header, BODY, now=T)

    def test_refuses_another_secret(self):
        with pytest.raises(SignatureError):
            verify("whsec_other", sign(SECRET, T, BODY), BODY, now=T)

    @pytest.mark.parametrize("header", [None, "", "garbage", f"t={T}", "v1=abc", "t=x,v1=abc", f"t={T},v0=abc"])
    def test_refuses_missing_or_malformed_headers(self, header):
        with pytest.raises(SignatureError):
            verify(SECRET, header, BODY, now=T)

    def test_any_matching_v1_of_several_is_enough(self):
        good = sign(SECRET, T, BODY).split(",v1=")[1]
        assert verify(SECRET, f"t={T},v1={'0' * 64},v1={good}", BODY, now=T) == T


class TestEndpointSecret:
    def test_is_derived_stable_and_changes_with_the_version_and_the_key(self):
        first = endpoint_secret("key", "we_1", 1)
        assert first.startswith("whsec_") and len(first) > 40
        assert endpoint_secret("key", "we_1", 1) == first
        assert endpoint_secret("key", "we_1", 2) != first
        assert endpoint_secret("key", "we_2", 1) != first
        assert endpoint_secret("other", "we_1", 1) != first
