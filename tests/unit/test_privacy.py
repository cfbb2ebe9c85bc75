"""Keyed pseudonyms and masks (reliability S2)."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from monitor.privacy import Pseudonymiser, Purpose, mask_id

PID = "11010519491231002X"


def test_pseudonyms_are_stable_keyed_and_separate_per_purpose() -> None:
    a, b = Pseudonymiser(b"key-one"), Pseudonymiser(b"key-two")
    assert a.pseudonym(PID, Purpose.ALERT) == a.pseudonym(PID, Purpose.ALERT)
    assert a.pseudonym(PID, Purpose.ALERT) != a.pseudonym(PID, Purpose.ANALYST)
    assert a.pseudonym(PID, Purpose.ALERT) != b.pseudonym(PID, Purpose.ALERT)
    assert PID not in a.pseudonym(PID, Purpose.ALERT)
    assert a.pseudonym(PID, Purpose.ALERT).startswith("p1:")


def test_unkeyed_hash_is_recoverable_which_is_why_we_use_hmac() -> None:
    # Knowing county and birth date leaves 1,000 candidates: an unkeyed hash falls at once.
    target = hashlib.sha256(PID.encode()).hexdigest()
    from monitor import idnumber

    found = [c for seq in range(1000)
             for c in [f"11010519491231{seq:03d}" + idnumber.check_character(f"11010519491231{seq:03d}")]
             if hashlib.sha256(c.encode()).hexdigest() == target]
    assert found == [PID]
    keyed = Pseudonymiser(b"secret").pseudonym(PID, Purpose.ANALYST)
    assert all(Pseudonymiser(b"guess").pseudonym(c, Purpose.ANALYST) != keyed for c in found)


def test_mask_keeps_first_six_and_last_four() -> None:
    assert mask_id(PID) == "110105********002X"


@given(st.text(max_size=40), st.binary(min_size=1, max_size=80), st.sampled_from(list(Purpose)))
def test_the_bulk_pseudonym_function_equals_the_method(value: str, secret: bytes, purpose: Purpose) -> None:
    pseudonymiser = Pseudonymiser(secret)
    assert pseudonymiser.pseudonym_function(purpose)(value) == pseudonymiser.pseudonym(value, purpose)
