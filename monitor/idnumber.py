"""GB 11643-1999 resident ID numbers: check character, birth date, region-code format.

18 characters: 6-digit address code (GB/T 2260), 8-digit birth date, 3-digit sequence (odd = male),
and an ISO 7064 MOD 11-2 check character.  The checksum alone lets about 1 in 11 random double
corruptions through, so the birth date and the province prefix are checked too.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from operator import mul

__all__ = ["birth_date_of", "check_character", "is_valid", "make", "normalise", "problem", "sex_of"]

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
# Province-level prefixes of GB/T 2260 (mainland 11..65, plus 71 Taiwan, 81 Hong Kong, 82 Macao).
_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82"
    .split()
)


def normalise(raw: str) -> str:
    """NFKC-normalise (full-width digits become ASCII) and upper-case the check character."""
    if raw.isascii():  # ASCII text is already in NFKC form; skipping the call is a third of validation
        return raw.strip().upper()
    return unicodedata.normalize("NFKC", raw).strip().upper()


def check_character(first17: str) -> str:
    """The MOD 11-2 check character for the first 17 digits."""
    if len(first17) != len(_WEIGHTS):
        msg = f"check_character needs 17 digits, got {len(first17)} characters"
        raise ValueError(msg)
    return _CHECK[sum(map(mul, map(int, first17), _WEIGHTS)) % 11]


def problem(person_id: str) -> str | None:
    """Why this (normalised) ID is invalid, in words that never repeat the ID; None when valid."""
    if len(person_id) != 18:
        return "person_id must have 18 characters"
    if not person_id[:17].isdigit() or not person_id[:17].isascii():
        return "person_id must start with 17 digits"
    if person_id[:2] not in _PROVINCES:
        return "person_id has no valid province code"
    if person_id[17] != check_character(person_id[:17]):
        return "person_id fails the GB 11643 check character"
    try:
        born = dt.date(int(person_id[6:10]), int(person_id[10:12]), int(person_id[12:14]))
    except ValueError:
        return "person_id has an impossible birth date"
    if born.year < 1880:
        return "person_id has an impossible birth date"
    return None


def is_valid(person_id: str) -> bool:
    """True when the ID passes every check of `problem`."""
    return problem(person_id) is None


def birth_date_of(person_id: str) -> dt.date:
    """The birth date encoded in a valid ID."""
    return dt.date(int(person_id[6:10]), int(person_id[10:12]), int(person_id[12:14]))


def sex_of(person_id: str) -> str:
    """'M' or 'F' from the parity of the sequence number."""
    return "M" if int(person_id[16]) % 2 else "F"


def make(region: str, born: dt.date, sequence: int, sex: str) -> str:
    """Build a valid ID (for synthetic fixtures): the sequence's parity is forced to match `sex`."""
    seq = sequence % 1000
    if (seq % 2 == 1) != (sex == "M"):
        seq = (seq + 1) % 1000 if seq < 999 else 998
    first17 = f"{region}{born:%Y%m%d}{seq:03d}"
    return first17 + check_character(first17)
