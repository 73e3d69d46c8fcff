"""``claim_tick`` (D6, Q8): periodic work runs once per tick however many runners race for it.

Why: dumbwaiter and periodic queue commands on several hosts must not compute
the same thing N times; the old libraries ran it once per process. The races
below are real: threads released by a barrier, and separate processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
from django.db import connection

from djworkers.models import FailedJob, TickClaim
from djworkers.runtime.coordination import KEEP_TICKS, claim_tick, owner_id
from tests.utils import ROOT, command_env


def race_threads(count: int, claim) -> list[bool]:
    barrier = threading.Barrier(count)
    results: list[bool] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def runner():
        try:
            barrier.wait(10)
            won = claim()
            with lock:
                results.append(won)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()  # each thread opened its own connection

    threads = [threading.Thread(target=runner) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
def test_exactly_one_thread_wins_each_tick():
    for tick in range(100, 105):
        results = race_threads(6, lambda tick=tick: claim_tick("report", tick))
        assert sorted(results) == [False] * 5 + [True], (tick, results)
    claims = TickClaim.objects.filter(name="report")
    assert sorted(claims.values_list("tick", flat=True)) == list(range(100, 105))
    assert claims.first().owner == owner_id()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_exactly_one_process_wins():
    start_at = time.time() + 4  # all processes claim at the same moment, after Django started
    code = (
        "import time\n"
        "from djworkers.runtime.coordination import claim_tick\n"
        f"time.sleep(max(0, {start_at} - time.time()))\n"
        "print('WON' if claim_tick('nightly', 7) else 'LOST')\n"
    )
    env = command_env()
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "django", "shell", "-c", code],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        outputs.append(out.strip().splitlines()[-1])  # shell may print a banner first
    assert sorted(outputs) == ["LOST", "LOST", "WON"], outputs
    (claim,) = TickClaim.objects.filter(name="nightly", tick=7)
    assert claim.owner != owner_id()  # one of the children, not this process


@pytest.mark.django_db
def test_claiming_again_in_the_same_process_loses():
    assert claim_tick("once", 1) is True
    assert claim_tick("once", 1) is False
    assert claim_tick("once", 2) is True
    assert claim_tick("other", 1) is True


@pytest.mark.django_db
def test_losing_inside_an_outer_transaction_keeps_it_usable():
    """The IntegrityError is contained in a savepoint (PostgreSQL aborts the whole
    transaction otherwise), so a runner inside ``atomic`` can go on."""
    assert connection.in_atomic_block  # pytest-django wraps the test in a transaction
    assert claim_tick("inner", 5) is True
    assert claim_tick("inner", 5) is False
    assert FailedJob.objects.count() == 0  # the connection still works


@pytest.mark.django_db
def test_old_ticks_are_pruned():
    for tick in (1, 2, 50):
        claim_tick("pruned", tick)
    claim_tick("kept", 1)
    newest = 2 + KEEP_TICKS
    assert claim_tick("pruned", newest)
    assert sorted(TickClaim.objects.filter(name="pruned").values_list("tick", flat=True)) == [2, 50, newest]
    claim_tick("pruned", newest + 1)
    assert sorted(TickClaim.objects.filter(name="pruned").values_list("tick", flat=True)) == [50, newest, newest + 1]
    assert TickClaim.objects.filter(name="kept", tick=1).exists()  # other names untouched


def test_redis_exactly_one_winner_and_expiry(redis):
    results = race_threads(8, lambda: claim_tick("report", 42, redis=redis, ttl=120))
    assert sorted(results) == [False] * 7 + [True]
    key = "djworkers:tick:report:42"
    assert redis.get(key).decode() == owner_id()
    assert 100 < redis.ttl(key) <= 120  # the claim expires: no lock to go stale
    assert claim_tick("report", 43, redis=redis)
    assert claim_tick("short", 1, redis=redis, ttl=0.2)
    assert redis.ttl("djworkers:tick:short:1") == 1  # at least one second


def test_redis_claims_from_separate_clients(redis_server, redis):
    """Separate connections (as separate processes have) still see one winner."""
    clients = [redis_server.client() for _ in range(4)]
    try:
        results = [claim_tick("multi", 9, redis=client) for client in clients]
    finally:
        for client in clients:
            client.close()
    assert results == [True, False, False, False]


def test_a_forked_child_is_named_by_its_own_pid_without_asking_the_kernel_each_time():
    """``owner_id`` (the worker of every result record) reads the pid a fork handler keeps
    (``djworkers.runtime.process``), not ``os.getpid()`` per job: a child must still get its own."""
    from djworkers.runtime.process import current_pid
    from tests.utils import in_forked_child

    parent = owner_id()
    assert current_pid() == os.getpid() and parent.endswith(f":{os.getpid()}")
    child = in_forked_child(lambda: f"{owner_id()} {current_pid()} {os.getpid()}")
    child_owner, child_pid, real_pid = child.split()
    assert child_pid == real_pid != str(os.getpid())
    assert child_owner == f"{parent.rsplit(':', 1)[0]}:{real_pid}"
    assert owner_id() == parent  # the parent's is untouched
