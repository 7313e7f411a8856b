"""Personal data in sampled features: masked by name or by value, equal values still equal under a salt."""

from __future__ import annotations

import pytest

from envparity.agent.privacy import MASKED, FeatureMasker, name_looks_personal, value_looks_personal

SALT = "a-deployment-salt-of-32-characters"


@pytest.mark.parametrize(
    "name",
    [
        "email",
        "customer_email",
        "cardNumber",
        "card_number",
        "phone",
        "iban",
        "dob",
        "first_name",
        "ip_address",
        "api_token",
        "user_password",
    ],
)
def test_personal_names(name: str) -> None:
    assert name_looks_personal(name)


@pytest.mark.parametrize("name", ["amount", "amount_z", "hour_sin", "merchant_category", "txn_count_1h", "country"])
def test_plain_names(name: str) -> None:
    assert not name_looks_personal(name)


@pytest.mark.parametrize(
    "value",
    [
        "jane.doe@example.com",
        "4111 1111 1111 1111",
        "4111111111111111",
        "GB82WEST12345698765432",
        "+44 20 7946 0958",
        "078-05-1120",
        "ghp_abcdefghijklmnopqrstuvwxyz0123",
    ],
)
def test_personal_values(value: str) -> None:
    assert value_looks_personal(value)


@pytest.mark.parametrize("value", ["FR", "electronics", "4111111111111112", "2026-11-01", "12.5", "web"])
def test_plain_values(value: str) -> None:
    assert not value_looks_personal(value)  # 4111...2 fails the Luhn check: not a card number


def test_masking_keeps_equality_under_a_salt_and_counts() -> None:
    masker = FeatureMasker(salt=SALT)
    a = masker.features({"email": "jane@example.com", "amount": 12.5, "note": "jane@example.com", "country": "FR"})
    b = masker.features({"email": "jane@example.com", "amount": 99.0, "note": None, "country": "DE"})
    assert a["email"] == b["email"] == a["note"] != "jane@example.com"
    assert str(a["email"]).startswith(f"{MASKED}:")
    assert (a["amount"], a["country"], b["note"]) == (12.5, "FR", None)
    assert masker.masked == 3


def test_numbers_are_masked_only_when_they_are_identifiers_under_a_personal_name() -> None:
    masker = FeatureMasker(salt=SALT)
    out = masker.features({"card_number": 4111111111111111, "card_amount": 1250.0, "amount": 4111111111111111})
    assert str(out["card_number"]).startswith(MASKED)
    assert out["card_amount"] == 1250.0 and out["amount"] == 4111111111111111


def test_without_a_salt_values_are_masked_without_a_hash() -> None:
    out = FeatureMasker(salt=None).features({"email": "jane@example.com"})
    assert out["email"] == MASKED


def test_a_deployment_can_name_features_to_mask_or_keep() -> None:
    masker = FeatureMasker.from_lists(True, mask=["merchant"], keep=["email"])
    masker.salt = SALT
    out = masker.features({"merchant": "ACME", "email": "jane@example.com"})
    assert str(out["merchant"]).startswith(MASKED) and out["email"] == "jane@example.com"
    assert FeatureMasker(enabled=False).features({"email": "x@y.io"}) == {"email": "x@y.io"}
