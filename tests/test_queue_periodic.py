"""crontab parsing and the periodic Scheduler (Q8)."""

from __future__ import annotations

import datetime
import threading

import pytest

from djworkers.queue import crontab, periodic_command
from djworkers.queue.crontab import parse_field
from djworkers.queue.periodic import PeriodicJob, Scheduler, local_minute, periodic_jobs

UTC = datetime.UTC


@pytest.mark.parametrize(
    ("field", "expression", "expected"),
    [
        ("minute", "*", set(range(60))),
        ("minute", "*/15", {0, 15, 30, 45}),
        ("minute", "5", {5}),
        ("minute", 5, {5}),
        ("minute", "0,30", {0, 30}),
        ("minute", "10-13", {10, 11, 12, 13}),
        ("minute", "10-20/5", {10, 15, 20}),
        ("minute", "50/4", {50, 54, 58}),
        ("minute", "1-3,*/20,59", {0, 1, 2, 3, 20, 40, 59}),
        ("minute", " 1 , 2 ", {1, 2}),
        ("hour", "*/6", {0, 6, 12, 18}),
        ("hour", "9-17", set(range(9, 18))),
        ("day", "*", set(range(1, 32))),
        ("day", "*/10", {1, 11, 21, 31}),
        ("month", "1,6-7,12", {1, 6, 7, 12}),
        ("month", "*/3", {1, 4, 7, 10}),
        ("day_of_week", "0", {0}),
        ("day_of_week", "7", {0}),  # Sunday again, as in cron
        ("day_of_week", "1-5", {1, 2, 3, 4, 5}),
        ("day_of_week", "5-7", {5, 6, 0}),
        ("day_of_week", "*", set(range(7))),
    ],
)
def test_parse_field(field, expression, expected):
    assert parse_field(field, expression) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"minute": "60"}, "minute='60': 60 is out of range 0-59"),
        ({"minute": "-1"}, "minute='-1'"),
        ({"hour": "24"}, "hour='24': 24 is out of range"),
        ({"day": "0"}, "day='0': 0 is out of range 1-31"),
        ({"month": "13"}, "month='13'"),
        ({"day_of_week": "8"}, "day_of_week='8'"),
        ({"minute": "*/0"}, "step must be >= 1"),
        ({"minute": "*/x"}, "'x' is not a number"),
        ({"minute": "a"}, "'a' is not a number"),
        ({"hour": "5-2"}, "range 5-2 goes backwards"),
        ({"minute": "1,,2"}, "empty item"),
        ({"minute": ""}, "empty expression"),
        ({"minute": None}, "expected a string or an int"),
        ({"minute": True}, "expected a string or an int"),
        ({"minute": "1-2-3"}, "is not a number"),
    ],
)
def test_bad_expressions_raise_naming_the_field(kwargs, message):
    """Q8: a bad expression is a ValueError naming the field, when the crontab is built."""
    with pytest.raises(ValueError) as info:
        crontab(**kwargs)
    assert f"crontab {message}" in str(info.value) or message in str(info.value)
    field = next(iter(kwargs))
    assert f"crontab {field}=" in str(info.value)


@pytest.mark.parametrize(
    ("field", "expression", "expected"),
    [
        ("day_of_week", "mon-fri", {1, 2, 3, 4, 5}),
        ("day_of_week", "MON-Fri", {1, 2, 3, 4, 5}),
        ("day_of_week", "sat,sun", {6, 0}),
        ("day_of_week", "Sunday", {0}),
        ("day_of_week", "monday-wednesday", {1, 2, 3}),
        ("day_of_week", "fri-sun", {5, 6, 0}),  # Sunday closes the week
        ("day_of_week", "sun-tue", {0, 1, 2}),
        ("day_of_week", "mon-sat/2", {1, 3, 5}),
        ("day_of_week", "1-3,fri", {1, 2, 3, 5}),
        ("month", "jan", {1}),
        ("month", "jan-mar", {1, 2, 3}),
        ("month", "JUN,Dec", {6, 12}),
        ("month", "September", {9}),
        ("month", "jan-dec/3", {1, 4, 7, 10}),
    ],
)
def test_day_and_month_names(field, expression, expected):
    """Q8: day and month names, any case, anywhere a number goes, as cron and Celery accept."""
    assert parse_field(field, expression) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"day_of_week": "mon-fry"},
            "day_of_week='mon-fry': 'fry' is neither a number nor a name (sun, mon, tue, wed, thu, fri, sat)",
        ),
        ({"day_of_week": "jan"}, "day_of_week='jan': 'jan' is neither a number nor a name"),
        ({"month": "janu"}, "month='janu': 'janu' is neither a number nor a name (jan, feb,"),
        ({"month": "mon"}, "month='mon'"),
        ({"month": "mar-jan"}, "month='mar-jan': range mar-jan goes backwards"),
        ({"hour": "mon"}, "hour='mon': 'mon' is not a number"),  # names only where cron has them
    ],
)
def test_bad_names_raise_naming_the_field(kwargs, message):
    """Q8: an unknown name is a ValueError naming the field and listing the names, at import."""
    with pytest.raises(ValueError) as info:
        crontab(**kwargs)
    assert f"crontab {message}" in str(info.value)


def test_named_schedule_matches():
    """Q8: crontab(day_of_week="mon-fri", month="jan-mar") against real dates."""
    schedule = crontab(minute=0, hour=9, day_of_week="mon-fri", month="jan-mar")
    assert schedule.matches(at(2027, 1, 4, 9, 0))  # a Monday in January
    assert not schedule.matches(at(2027, 1, 3, 9, 0))  # a Sunday
    assert not schedule.matches(at(2027, 4, 5, 9, 0))  # a Monday in April


def test_bad_crontab_fails_at_import_of_the_decorating_module(clean_registry):
    with pytest.raises(ValueError, match="hour"):

        @periodic_command(crontab(hour="25"))
        def never():
            pass


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "when", "expected"),
    [
        (crontab(), at(2026, 11, 29, 10, 7), True),
        (crontab(minute="*/15"), at(2026, 11, 29, 10, 45), True),
        (crontab(minute="*/15"), at(2026, 11, 29, 10, 46), False),
        (crontab(minute=0, hour=3), at(2026, 11, 29, 3, 0, 59), True),  # seconds ignored
        (crontab(minute=0, hour=3), at(2026, 11, 29, 4, 0), False),
        # 2026-11-29 is a Sunday: day_of_week 0
        (crontab(day_of_week="0"), at(2026, 11, 29, 12, 0), True),
        (crontab(day_of_week="7"), at(2026, 11, 29, 12, 0), True),
        (crontab(day_of_week="1-5"), at(2026, 11, 29, 12, 0), False),
        (crontab(day_of_week="1"), at(2026, 11, 30, 12, 0), True),  # Monday
        (crontab(day_of_week="6"), at(2026, 11, 28, 12, 0), True),  # Saturday
        (crontab(day=1, month=12), at(2026, 12, 1, 0, 0), True),
        (crontab(day=1, month=12), at(2026, 11, 1, 0, 0), False),
        # every field must match (djutils semantics): day 29 AND Monday
        (crontab(day=29, day_of_week=1), at(2026, 11, 29, 0, 0), False),
        (crontab(day=29, day_of_week=0), at(2026, 11, 29, 0, 0), True),
        (crontab(day=29, month=2), at(2028, 2, 29, 0, 0), True),  # leap day
    ],
)
def test_crontab_matches(schedule, when, expected):
    assert schedule.matches(when) is expected
    assert schedule(when) is expected


def test_repr_shows_the_expression():
    assert repr(crontab(minute="*/5", day_of_week="1-5")) == "crontab(minute='*/5', day_of_week='1-5')"


# -- the Scheduler ---------------------------------------------------------------------------------
NOON = at(2026, 11, 29, 12, 0).timestamp()  # a Sunday, 12:00:00 UTC


class Recorder:
    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    def __call__(self, message):
        with self.lock:
            self.messages.append(message)


def memory_claim():
    """An in-process stand-in for claim_tick with the same contract: one winner per (name, tick).

    ``claim.release(name, tick)`` is the matching stand-in for release_tick.
    """
    won: set = set()
    lock = threading.Lock()

    def claim(name, tick):
        with lock:
            if (name, tick) in won:
                return False
            won.add((name, tick))
            return True

    def release(name, tick):
        with lock:
            won.discard((name, tick))

    claim.release = release
    return claim


@pytest.fixture
def hourly(clean_registry):
    @periodic_command(crontab(minute=0), name="tests.periodic.hourly")
    def hourly_job():
        pass

    @periodic_command(crontab(minute="*/30"), name="tests.periodic.half", queue="other")
    def half_hourly():
        pass

    return [p for p in periodic_jobs() if p.name.startswith("tests.periodic.")]


def test_tick_enqueues_due_jobs_once_per_minute(hourly):
    enqueued = Recorder()
    claim = memory_claim()
    scheduler = Scheduler(hourly, enqueue=enqueued, claim=claim, release=claim.release)
    assert {m.name for m in scheduler.tick(NOON)} == {"tests.periodic.hourly", "tests.periodic.half"}
    assert scheduler.tick(NOON + 30) == []  # same minute: nothing more
    assert scheduler.tick(NOON + 60) == []  # 12:01: nothing due
    assert [m.name for m in scheduler.tick(NOON + 30 * 60)] == ["tests.periodic.half"]
    assert {m.queue for m in enqueued.messages} == {"default", "other"}
    assert len(enqueued.messages) == 3


def test_tick_skips_missed_windows_after_a_stall(hourly):
    """Q8: after a stall the scheduler acts on the current minute only, no catch-up burst."""
    enqueued = Recorder()
    claim = memory_claim()
    scheduler = Scheduler(hourly, enqueue=enqueued, claim=claim, release=claim.release)
    scheduler.tick(NOON - 60)  # 11:59
    # stalled from 11:59 to 13:01: the 12:00, 12:30 and 13:00 windows are gone
    assert scheduler.tick(NOON + 61 * 60) == []
    assert enqueued.messages == []
    assert len(scheduler.tick(NOON + 90 * 60)) == 1  # 13:30 runs normally


def test_tick_going_backwards_does_nothing(hourly):
    claim = memory_claim()
    scheduler = Scheduler(hourly, enqueue=Recorder(), claim=claim, release=claim.release)
    scheduler.tick(NOON)
    assert scheduler.tick(NOON - 3600) == []


@pytest.mark.django_db(transaction=True)
def test_three_schedulers_same_tick_enqueue_once(hourly):
    """Q8: three consumers' schedulers ticking at the same minute (the real claim_tick on the
    database, concurrently from three threads): each due job is enqueued exactly once."""
    enqueued = Recorder()
    schedulers = [Scheduler(hourly, enqueue=enqueued) for _ in range(3)]
    barrier = threading.Barrier(3)
    errors = []

    def run(scheduler):
        from django.db import connection

        try:
            barrier.wait(5)
            scheduler.tick(NOON + 5)
            scheduler.tick(NOON + 30 * 60 + 1)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(s,)) for s in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    names = sorted(m.name for m in enqueued.messages)
    assert names == ["tests.periodic.half", "tests.periodic.half", "tests.periodic.hourly"]


def test_a_failing_enqueue_does_not_stop_other_jobs(hourly):
    enqueued = Recorder()

    def flaky_enqueue(message):
        if message.name == "tests.periodic.hourly":
            raise ConnectionError("backend down")
        enqueued(message)

    claim = memory_claim()
    scheduler = Scheduler(hourly, enqueue=flaky_enqueue, claim=claim, release=claim.release)
    scheduler.tick(NOON)
    assert [m.name for m in enqueued.messages] == ["tests.periodic.half"]


@pytest.mark.django_db(transaction=True)
def test_a_failed_enqueue_hands_the_minute_back(hourly):
    """Q8: a consumer that won the minute but could not enqueue (backend blip) releases its
    claim (the real claim_tick/release_tick on the database), so the job still runs once that
    minute: on its own next pass or another consumer's."""
    enqueued = Recorder()
    failures = iter([ConnectionError("backend down")])

    def flaky_enqueue(message):
        failure = next(failures, None)
        if failure is not None and message.name == "tests.periodic.hourly":
            raise failure
        enqueued(message)

    first = Scheduler(hourly, enqueue=flaky_enqueue)
    other = Scheduler(hourly, enqueue=enqueued)
    first.tick(NOON + 1)
    assert sorted(m.name for m in enqueued.messages) == ["tests.periodic.half"]
    other.tick(NOON + 2)  # another consumer takes the released minute
    first.tick(NOON + 3)  # and the first one does not enqueue it a second time
    assert sorted(m.name for m in enqueued.messages) == ["tests.periodic.half", "tests.periodic.hourly"]


def test_periodic_command_is_also_a_queue_command(clean_registry):
    from djworkers.registry import registry

    @periodic_command(crontab(hour=3), name="tests.periodic.nightly", retries=2)
    def nightly():
        return "done"

    assert registry.get("tests.periodic.nightly").retries == 2
    assert nightly.call_local() == "done"
    assert any(isinstance(p, PeriodicJob) and p.name == "tests.periodic.nightly" for p in periodic_jobs())


def test_periodic_command_needs_a_schedule(clean_registry):
    with pytest.raises(TypeError, match="crontab"):
        periodic_command("*/5")


def test_local_minute_uses_time_zone(settings):
    settings.TIME_ZONE = "Europe/Paris"
    settings.USE_TZ = True
    when = local_minute(NOON + 42)
    assert (when.hour, when.minute, when.second) == (13, 0, 0)  # UTC+1 in November
    assert crontab(hour=13, minute=0).matches(when)
