"""Event time for the fixtures: integer seconds since 2023-01-01T00:00 China Standard Time.

The event window is 2023-01-01 .. 2024-06-30 (+08:00).  Stamps are built from precomputed tables, not
datetime arithmetic per event, because the generator formats tens of millions of them.
"""

from __future__ import annotations

import datetime as dt

__all__ = [
    "AS_OF", "DAY", "END", "MONTHS", "date_str", "day_of_month", "month_index", "month_start", "month_str",
    "reported", "stamp",
]

DAY = 86_400
HOUR = 3_600
EPOCH = dt.date(2023, 1, 1)
AS_OF = EPOCH                                   # the registry baseline date
_WINDOW_DAYS = (dt.date(2024, 6, 30) - EPOCH).days + 1
END = _WINDOW_DAYS * DAY - 1                    # last second of 2024-06-30
MONTHS = 18                                     # 2023-01 .. 2024-06
_SPAN = 1200                                    # days covered by the tables (reported_at runs later)

_DAYS = tuple((EPOCH + dt.timedelta(days=d)).isoformat() for d in range(_SPAN))
_HMS = tuple(f"T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+08:00" for s in range(DAY))
_MONTH_OF_DAY = tuple(((EPOCH + dt.timedelta(days=d)).year - 2023) * 12 + (EPOCH + dt.timedelta(days=d)).month - 1
                      for d in range(_SPAN))
_MONTH_START = tuple((dt.date(2023 + m // 12, m % 12 + 1, 1) - EPOCH).days * DAY for m in range(_SPAN // 28))
_MONTH_STR = tuple(f"{2023 + m // 12}-{m % 12 + 1:02d}" for m in range(_SPAN // 28))


def stamp(t: int) -> str:
    """RFC 3339 with the +08:00 offset."""
    d, s = divmod(t, DAY)
    return _DAYS[d] + _HMS[s]


def date_str(t: int) -> str:
    """The civil date (CST) of a time, as YYYY-MM-DD; also works before the window."""
    d = t // DAY
    if 0 <= d < _SPAN:
        return _DAYS[d]
    return (EPOCH + dt.timedelta(days=d)).isoformat()


def month_index(t: int) -> int:
    """0 for 2023-01, 17 for 2024-06."""
    return _MONTH_OF_DAY[t // DAY]


def month_start(m: int) -> int:
    """Time of the first midnight of month index m."""
    return _MONTH_START[m]


def month_str(m: int) -> str:
    """YYYY-MM of month index m (negative m: months before the window)."""
    if m >= 0:
        return _MONTH_STR[m]
    year, month = divmod(2023 * 12 + m, 12)
    return f"{year}-{month + 1:02d}"


def day_of_month(m: int, day: int, hour: int = 9) -> int:
    """A time on a given day of month index m (day clamped to 28)."""
    return _MONTH_START[m] + (min(day, 28) - 1) * DAY + hour * HOUR


# Reporting delay by delivery mode (catalogue §2): RT within hours, D next night, M weeks, ...
def reported(t: int, mode: str, draw: float) -> int:
    """reported_at for an event at t, `draw` a uniform [0, 1) number."""
    if mode == "RT":
        return t + 600 + int(draw * 6 * HOUR)
    if mode == "D":
        return (t // DAY + 1) * DAY + HOUR + int(draw * 4 * HOUR)
    if mode == "M":
        return t + 3 * DAY + int(draw * 17 * DAY)
    if mode == "T":
        return t + 7 * DAY + int(draw * 30 * DAY)
    if mode == "Q":
        return t + DAY + int(draw * DAY)
    return t + HOUR + int(draw * 3 * DAY)
