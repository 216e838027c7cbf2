"""Signed unsubscribe and confirmation tokens: round trips, tampering, expiry, kinds."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldfeed.errors import ConfigError
from fieldfeed.mail.tokens import (
    load_secret,
    sign_confirmation,
    sign_unsubscribe,
    unsubscribe_link,
    verify_confirmation,
    verify_unsubscribe,
)

SECRET = b"test-secret-test-secret-test-secret-xyz"
OTHER = b"another-secret-another-secret-another-1"
URL_SAFE = set(string.ascii_letters + string.digits + "._-")
ids = st.integers(min_value=0, max_value=2**63 - 1)
emails = st.emails() | st.text(min_size=1, max_size=80)
times = st.integers(min_value=0, max_value=2**40)


@given(ids)
def test_unsubscribe_round_trip(subscriber_id: int) -> None:
    token = sign_unsubscribe(SECRET, subscriber_id)
    assert set(token) <= URL_SAFE
    assert verify_unsubscribe(SECRET, token) == subscriber_id
    assert verify_unsubscribe(OTHER, token) is None


def test_unsubscribe_token_is_short() -> None:
    assert len(sign_unsubscribe(SECRET, 9_999_999)) <= 24
    assert len(unsubscribe_link("https://fieldnotes.example.org/u/", SECRET, 9_999_999)) <= 70


ALPHABET = string.ascii_letters + string.digits + "._-=+/ %"


@given(ids, st.data())
def test_any_single_character_change_fails(subscriber_id: int, data: st.DataObject) -> None:
    token = sign_unsubscribe(SECRET, subscriber_id)
    i = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from(ALPHABET).filter(lambda c: c != token[i]))
    altered = token[:i] + replacement + token[i + 1 :]
    assert verify_unsubscribe(SECRET, altered) is None
    # Deleting or inserting a character fails too.
    assert verify_unsubscribe(SECRET, token[:i] + token[i + 1 :]) is None
    assert verify_unsubscribe(SECRET, token[:i] + replacement + token[i:]) is None


@given(st.text(max_size=60))
def test_garbage_never_raises(garbage: str) -> None:
    assert verify_unsubscribe(SECRET, garbage) is None
    assert verify_confirmation(SECRET, garbage, now=10**9, max_age=10**9) is None


@pytest.mark.parametrize("token", ["", ".", "1.", ".abc", "01.AAAAAAAAAAAAAAAA", "-1.x", "١.x"])
def test_malformed_unsubscribe_tokens(token: str) -> None:
    assert verify_unsubscribe(SECRET, token) is None


@given(emails, times)
def test_confirmation_round_trip_and_expiry(email: str, issued_at: int) -> None:
    token = sign_confirmation(SECRET, email, issued_at)
    assert set(token) <= URL_SAFE
    day = 86_400
    assert verify_confirmation(SECRET, token, now=issued_at, max_age=day) == email
    assert verify_confirmation(SECRET, token, now=issued_at + day, max_age=day) == email
    assert verify_confirmation(SECRET, token, now=issued_at + day + 1, max_age=day) is None
    # Issued far in the future (beyond clock skew): refused.
    assert verify_confirmation(SECRET, token, now=issued_at - 3600, max_age=day) is None
    assert verify_confirmation(OTHER, token, now=issued_at, max_age=day) is None


@given(emails, times, st.data())
def test_confirmation_single_character_change_fails(
    email: str, issued_at: int, data: st.DataObject
) -> None:
    token = sign_confirmation(SECRET, email, issued_at)
    i = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from(ALPHABET).filter(lambda c: c != token[i]))
    altered = token[:i] + replacement + token[i + 1 :]
    assert verify_confirmation(SECRET, altered, now=issued_at, max_age=10**12) is None


@given(ids, emails, times)
def test_one_kind_cannot_be_used_as_the_other(subscriber_id: int, email: str, t: int) -> None:
    unsub = sign_unsubscribe(SECRET, subscriber_id)
    confirm = sign_confirmation(SECRET, email, t)
    assert verify_confirmation(SECRET, unsub, now=t, max_age=10**12) is None
    assert verify_unsubscribe(SECRET, confirm) is None
    # Even a confirmation token whose payload looks like an unsubscribe one: the MACs carry
    # different purposes, so the MAC part cannot be transplanted.
    mac = confirm.rsplit(".", 1)[1]
    assert verify_unsubscribe(SECRET, f"{subscriber_id}.{mac[:16]}") is None


def test_load_secret() -> None:
    good = "x" * 43
    assert load_secret({"FIELDFEED_SECRET": good}) == good.encode()
    with pytest.raises(ConfigError, match="FIELDFEED_SECRET is not set"):
        load_secret({})
    with pytest.raises(ConfigError, match="too short") as info:
        load_secret({"FIELDFEED_SECRET": "hunter2"})
    assert "hunter2" not in str(info.value)


def test_preferences_tokens_verify_expire_and_are_their_own_kind() -> None:
    from fieldfeed.mail.tokens import (
        PREFERENCES_MAX_AGE,
        preferences_link,
        sign_preferences,
        sign_unsubscribe,
        verify_preferences,
        verify_unsubscribe,
    )

    key = b"k" * 40
    token = sign_preferences(key, 345, 1_000_000)
    assert verify_preferences(key, token, 1_000_000) == 345
    assert verify_preferences(key, token, 1_000_000 + PREFERENCES_MAX_AGE) == 345
    assert verify_preferences(key, token, 1_000_001 + PREFERENCES_MAX_AGE) is None  # expired
    assert verify_preferences(key, token, 1_000_000 - 301) is None  # from the future
    assert verify_preferences(b"j" * 40, token, 1_000_000) is None
    assert verify_preferences(key, token.replace("345.", "346.", 1), 1_000_000) is None
    # Neither kind passes as the other.
    assert verify_unsubscribe(key, token) is None
    assert verify_preferences(key, sign_unsubscribe(key, 345), 1_000_000) is None
    for garbage in ("", "...", "1.2", "1.2.3.4", "x.1.AAAA", "01.1." + token.split(".")[2]):
        assert verify_preferences(key, garbage, 1_000_000) is None
    assert preferences_link("https://ex.org/news/u/", key, 345, 1_000_000) == (
        "https://ex.org/news/preferences/" + token
    )
    assert preferences_link("", key, 345, 1_000_000) == ""
