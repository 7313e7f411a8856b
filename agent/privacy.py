"""Personal data and secrets in sampled features: masked before a window leaves the process.

A string value is masked when its feature's name looks personal (email, phone, card,
IBAN, passport, name, address, birth date, IP address, ...) or secret (the
fingerprint's key rules), or when the value looks like an email address, a payment
card number (Luhn), an IBAN, a phone number in international form, a US social
security number or a credential. A number is masked when its name looks personal and
it is an integer of seven digits or more (card, phone and identity numbers), so that
amounts and counts under such names keep their numeric drift statistics.

The masked value is ``masked:`` and a keyed hash of the value under the deployment's
salt (``ENVPARITY_HASH_SALT``, the same in every environment), so that
equal values stay equal and the categorical drift statistics still work; without a
salt it is ``masked`` alone (presence and null rate only). On by default; a
deployment names features to mask or to leave alone.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from envparity.agent.fingerprint.secrets import deployment_salt, key_looks_secret, value_looks_secret
from envparity.agent.wire import FeatureValue

MASKED = "masked"
_PERSONAL_WORDS = frozenset(
    {
        "email", "mail", "phone", "mobile", "msisdn", "ssn", "nino", "card", "pan", "cvv", "cvc",
        "iban", "bic", "swift", "passport", "licence", "license", "name", "firstname", "lastname", "surname",
        "fullname", "username", "address", "street", "postcode", "zipcode", "zip", "dob", "birth", "birthday",
        "birthdate", "ip", "ipv4", "ipv6", "imei", "mac", "nationalid", "taxid", "vat",
    }
)  # fmt: skip
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?:\d[ -]?){12,18}\d")
_IBAN = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9 ]{11,30}")
_PHONE = re.compile(r"\+\d[\d ()\-]{7,18}\d")
_SSN = re.compile(r"\d{3}-\d{2}-\d{4}")


def name_looks_personal(name: str) -> bool:
    """True when a feature's name suggests personal data or a secret."""
    words = {w.lower() for w in _WORD.findall(name)}
    joined = "".join(sorted(words))
    return bool(words & _PERSONAL_WORDS) or key_looks_secret(name) or joined in _PERSONAL_WORDS


def _luhn(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


@lru_cache(maxsize=65_536)  # categorical features repeat their values
def value_looks_personal(value: str) -> bool:
    """True when a string value looks like an email, a card number, an IBAN, a phone number, an SSN or a secret."""
    text = value.strip()
    if _EMAIL.fullmatch(text) or _IBAN.fullmatch(text) or _PHONE.fullmatch(text) or _SSN.fullmatch(text):
        return True
    if _CARD.fullmatch(text):
        digits = re.sub(r"\D", "", text)
        return 13 <= len(digits) <= 19 and _luhn(digits)
    return value_looks_secret(text)


@dataclass
class FeatureMasker:
    """Masks the personal values of a sample's features; counts what it masked."""

    enabled: bool = True
    mask_names: frozenset[str] = frozenset()
    keep_names: frozenset[str] = frozenset()
    salt: str | None = field(default_factory=deployment_salt)
    masked: int = 0
    _by_name: dict[str, bool] = field(default_factory=dict, repr=False)

    @classmethod
    def from_lists(cls, enabled: bool, mask: Iterable[str] = (), keep: Iterable[str] = ()) -> FeatureMasker:
        return cls(enabled, frozenset(mask), frozenset(keep))

    def _name_masked(self, name: str) -> bool:
        if name not in self._by_name:
            self._by_name[name] = name not in self.keep_names and (name in self.mask_names or name_looks_personal(name))
        return self._by_name[name]

    def _mask(self, value: object) -> str:
        self.masked += 1
        if self.salt is None:
            return MASKED
        digest = hmac.new(self.salt.encode(), str(value).encode("utf-8", "replace"), hashlib.sha256).hexdigest()
        return f"{MASKED}:{digest[:16]}"

    def features(self, features: Mapping[str, FeatureValue]) -> dict[str, FeatureValue]:
        """The features with personal values replaced; the input is not changed."""
        if not self.enabled:
            return dict(features)
        out: dict[str, FeatureValue] = {}
        for name, value in features.items():
            if value is None or name in self.keep_names:
                out[name] = value
            elif self._personal(name, value):
                out[name] = self._mask(value)
            else:
                out[name] = value
        return out

    def _personal(self, name: str, value: object) -> bool:
        if isinstance(value, str):
            return self._name_masked(name) or value_looks_personal(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        identifier = float(value).is_integer() and abs(value) >= 1_000_000
        return identifier and self._name_masked(name)
