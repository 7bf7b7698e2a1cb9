import pytest

from jobs.timecodes import TimeFormatError, parse_time_ms


@pytest.mark.parametrize(
    "value,expected_ms",
    [
        ("0", 0),
        ("5000", 5000),
        ("1500.5", 1500.5),
        (2500, 2500),
        (12.5, 12.5),
        ("5s", 5000),
        ("1.25s", 1250),
        ("5000ms", 5000),
        ("5000000us", 5000),
        ("01:02", 62000),
        ("00:01:02.250", 62250),
        ("1:00:00", 3600000),
        (" 7s ", 7000),
    ],
)
def test_accepted_forms(value, expected_ms):
    assert parse_time_ms(value) == pytest.approx(expected_ms)


@pytest.mark.parametrize(
    "value", ["", "abc", "-5", -1, "5 min", "1:2:3:4", "00:61", "01:60:00", True, None, "5e3"]
)
def test_refused_forms(value):
    with pytest.raises(TimeFormatError):
        parse_time_ms(value)
