"""GB 11643 validation (reliability S7): the standard's vectors, every single substitution and transposition."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from monitor import idnumber

VECTORS = ["11010519491231002X", "440524188001010014"]


def test_standard_vectors_pass() -> None:
    for vector in VECTORS:
        assert idnumber.problem(vector) is None


def test_full_width_digits_normalise_to_a_valid_id() -> None:
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "11010519491231002X")
    assert idnumber.problem(idnumber.normalise(full_width)) is None


def test_every_single_substitution_and_adjacent_transposition_is_rejected() -> None:
    missed = 0
    for vector in VECTORS:
        for i in range(18):
            for c in "0123456789X":
                if c == vector[i] or (i < 17 and c == "X"):
                    continue
                mutated = vector[:i] + c + vector[i + 1:]
                missed += idnumber.is_valid(mutated)
        for i in range(17):
            if vector[i] != vector[i + 1]:
                swapped = vector[:i] + vector[i + 1] + vector[i] + vector[i + 2:]
                missed += idnumber.is_valid(swapped)
    assert missed == 0


@given(st.dates(dt.date(1900, 1, 1), dt.date(2024, 12, 31)), st.integers(0, 999), st.sampled_from("MF"))
def test_made_ids_are_valid_and_encode_birth_date_and_sex(born: dt.date, seq: int, sex: str) -> None:
    pid = idnumber.make("330102", born, seq, sex)
    assert idnumber.is_valid(pid)
    assert idnumber.birth_date_of(pid) == born
    assert idnumber.sex_of(pid) == sex


def test_impossible_birth_date_and_bad_province_are_rejected() -> None:
    bad_date = "11010519491331" + "002"
    assert idnumber.problem(bad_date + idnumber.check_character(bad_date)) == \
        "person_id has an impossible birth date"
    bad_province = "99010519491231002"
    assert "province" in (idnumber.problem(bad_province + idnumber.check_character(bad_province)) or "")
