"""Five-field cron expressions ("0 8 * * 1-5") in a time zone: when the next one fires.

Pure. Fields: minute hour day-of-month month day-of-week (0 or 7 = Sunday), each `*`, a
number, a range `a-b`, a step `*/n` or `a-b/n`, or a comma list of those. As in cron, when
both day fields are restricted a day matching either one fires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
           ("day of week", 0, 7))  # fmt: skip
_LOOKAHEAD_DAYS = 366 * 5  # "30 2 29 2 *" (Feb 29) is the sparsest real schedule


def _field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"{name}: bad step {step_text!r}")
        if span == "*":
            first, last = low, high
        elif "-" in span:
            a, _, b = span.partition("-")
            if not (a.isdigit() and b.isdigit()):
                raise ValueError(f"{name}: bad range {span!r}")
            first, last = int(a), int(b)
        elif span.isdigit():
            first = last = int(span)
            if step:
                last = high
        else:
            raise ValueError(f"{name}: expected a number, a range or *, got {span!r}")
        if not low <= first <= last <= high:
            raise ValueError(f"{name}: {span!r} is outside {low}-{high}")
        values.update(range(first, last + 1, step or 1))
    return frozenset(values)


@dataclass(frozen=True, slots=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool
    zone: ZoneInfo

    @classmethod
    def parse(cls, text: str, timezone: str = "UTC") -> Cron:
        parts = text.split()
        if len(parts) != 5:
            raise ValueError(f"a cron expression has 5 fields, {text!r} has {len(parts)}")
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {timezone!r}") from None
        m, h, d, mo, w = (_field(p, *spec) for p, spec in zip(parts, _FIELDS, strict=True))
        return cls(m, h, d, mo, frozenset(x % 7 for x in w), parts[2] == "*", parts[4] == "*",
                   zone)  # fmt: skip

    def _day_fires(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        by_date = day.day in self.days
        by_weekday = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return by_date and by_weekday
        return by_date or by_weekday

    def next_after(self, moment: datetime) -> datetime:
        """The first firing strictly after `moment` (aware), in UTC."""
        local = moment.astimezone(self.zone).replace(second=0, microsecond=0, tzinfo=None)
        day = local.replace(hour=0, minute=0)
        for _ in range(_LOOKAHEAD_DAYS):
            if self._day_fires(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        wall = day.replace(hour=hour, minute=minute)
                        if wall > local:
                            return wall.replace(tzinfo=self.zone).astimezone(UTC)
            day += timedelta(days=1)
        raise ValueError("this cron expression never fires")


@dataclass(frozen=True, slots=True)
class Every:
    """Fixed windows of `size`, aligned to the epoch: every daemon agrees on them."""

    size: timedelta

    def next_after(self, moment: datetime) -> datetime:
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        seconds = self.size.total_seconds()
        return epoch + timedelta(
            seconds=((moment - epoch).total_seconds() // seconds + 1) * seconds
        )


Schedule = Cron | Every

__all__ = ["Cron", "Every", "Schedule"]
