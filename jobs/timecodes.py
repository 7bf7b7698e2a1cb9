"""Parsing the contract's trim times into milliseconds.

Accepted: a plain number of milliseconds ("5000", "1500.5", or a JSON number), a number
with a unit ("5s", "5000ms", "5000000us"), or a clock ("MM:SS", "HH:MM:SS", with
optional fractional seconds: "00:01:02.250").
"""

import math
import re

from videos.engine.media import MAX_DURATION

NUMBER = r"\d+(?:\.\d+)?"
PLAIN_RE = re.compile(rf"^({NUMBER})$")
UNIT_RE = re.compile(rf"^({NUMBER})\s*(us|ms|s)$")
CLOCK_RE = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")
MS_PER_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}
MAX_TIME_LENGTH = 40  # characters; "HH:MM:SS.ffffff" and "86400000000us" need far fewer
MAX_TIME_MS = MAX_DURATION * 1000  # no video we accept lasts longer
FORMS = (
    "write milliseconds ('5000'), a number with a unit ('5s', '5000ms', '5000000us') or a "
    "clock time ('MM:SS', 'HH:MM:SS.fff')"
)


class TimeFormatError(ValueError):
    pass


def parse_time_ms(value) -> float:
    """Milliseconds from a time as the contract writes it; TimeFormatError otherwise."""
    ms = _parse_ms(value)
    if not math.isfinite(ms) or ms > MAX_TIME_MS:
        raise TimeFormatError(f"A time can be at most {MAX_DURATION // 3600} hours.")
    return ms


def _parse_ms(value) -> float:
    if isinstance(value, bool):
        raise TimeFormatError(f"{value!r} is not a time: {FORMS}.")
    if isinstance(value, int | float):
        if value < 0:
            raise TimeFormatError(f"A time cannot be negative ({value}).")
        return float(value) if value <= MAX_TIME_MS else math.inf  # float() may overflow
    if not isinstance(value, str):
        raise TimeFormatError(f"{value!r} is not a time: {FORMS}.")
    if len(value) > MAX_TIME_LENGTH:
        raise TimeFormatError(f"A time is at most {MAX_TIME_LENGTH} characters long.")
    text = value.strip().lower()
    if text.startswith("-"):
        raise TimeFormatError(f"A time cannot be negative ('{value}').")
    if match := PLAIN_RE.match(text):
        return float(match[1])
    if match := UNIT_RE.match(text):
        return float(match[1]) * MS_PER_UNIT[match[2]]
    if match := CLOCK_RE.match(text):
        hours, minutes, seconds = int(match[1] or 0), int(match[2]), float(match[3])
        if seconds >= 60 or (match[1] is not None and minutes >= 60):
            raise TimeFormatError(
                f"'{value}' is not a clock time: minutes and seconds go from 00 to 59."
            )
        return ((hours * 60 + minutes) * 60 + seconds) * 1000
    raise TimeFormatError(f"'{value}' is not a time: {FORMS}.")


def clock(ms: float) -> str:
    """A time as messages show it, and as a time field takes it back: HH:MM:SS.fff."""
    hours, rest = divmod(round(ms), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02}:{minutes:02}:{seconds:02}.{millis:03}"


def format_ms(ms: float) -> int | float:
    """Integral milliseconds as an int, so normalised params read naturally."""
    return int(ms) if float(ms).is_integer() else ms
