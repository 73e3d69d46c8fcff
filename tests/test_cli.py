"""The argparse validators every command shares (djworkers.runtime.cli)."""

import argparse

import pytest

from djworkers.runtime import cli


@pytest.mark.parametrize(
    "validator, value, expected",
    [
        (cli.positive_int, "3", 3),
        (cli.non_negative_int, "0", 0),
        (cli.positive_float, "0.5", 0.5),
        (cli.seconds, "2.5", 2.5),
        (cli.backoff_factor, "1", 1.0),
    ],
)
def test_accepts(validator, value, expected):
    assert validator(value) == expected


@pytest.mark.parametrize(
    "validator, value, message",
    [
        (cli.positive_int, "0", "must be at least 1, got 0"),
        (cli.positive_int, "1.5", "expected a whole number, got '1.5'"),
        (cli.non_negative_int, "-1", "must be 0 or more, got -1"),
        (cli.positive_float, "0", "must be more than 0, got 0"),
        (cli.seconds, "-2", "must be more than 0 seconds, got -2"),
        (cli.seconds, "soon", "expected a number of seconds, got 'soon'"),
        (cli.backoff_factor, "0.5", "must be >= 1 (1 = poll at a constant --delay), got 0.5"),
    ],
)
def test_rejects_with_a_message_naming_what_was_expected(validator, value, message):
    with pytest.raises(argparse.ArgumentTypeError) as excinfo:
        validator(value)
    assert str(excinfo.value) == message
