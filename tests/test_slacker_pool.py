"""The thread worker's pool (S3): which thread takes a chain, cancelled chains, exceptions, shutdown."""

from __future__ import annotations

import asyncio
import threading

import pytest

from djworkers.slacker.pool import ChainPool


@pytest.fixture
def pool():
    pool = ChainPool(4, "test-slacker-pool")
    yield pool
    pool.shutdown()


def test_chains_awaited_one_at_a_time_go_to_the_thread_that_finished_last(pool):
    """S3: with every thread started and used once, sequential chains all run on the last one to finish,
    so a quiet loop keeps one thread and one database connection warm (not a rotation through all)."""
    barrier = threading.Barrier(4, timeout=10)

    def meet(_):
        barrier.wait()
        return threading.get_ident()

    async def main():
        together = await asyncio.gather(*(pool.submit(meet, None) for _ in range(4)))
        one_by_one = [await pool.submit(lambda _: threading.get_ident(), None) for _ in range(20)]
        return together, one_by_one

    together, one_by_one = asyncio.run(main())
    assert len(set(together)) == 4
    assert len(set(one_by_one)) == 1 and one_by_one[0] in together


def test_a_chain_cancelled_before_a_thread_takes_it_never_runs():
    """S3: a chain whose future was cancelled (timeout, caller gone) while it waited for a thread is skipped."""
    pool = ChainPool(1, "test-slacker-pool-1")
    release = threading.Event()
    ran = []

    async def main():
        busy = pool.submit(lambda _: release.wait(10), None)
        queued = pool.submit(ran.append, "queued")
        queued.cancel()
        release.set()
        assert await busy is True
        return await pool.submit(lambda value: value * 2, 21)

    try:
        assert asyncio.run(main()) == 42
    finally:
        pool.shutdown()
    assert ran == []


def test_exceptions_reach_the_awaiting_coroutine(pool):
    """S3: the chain's exception is raised by ``await``; StopIteration, which a future refuses, as RuntimeError."""

    def fail(kind):
        raise kind("boom")

    async def main():
        with pytest.raises(LookupError, match="boom"):
            await pool.submit(fail, LookupError)
        with pytest.raises(RuntimeError, match="StopIteration"):
            await pool.submit(fail, StopIteration)

    asyncio.run(main())


def test_shutdown_cancels_pending_chains_and_refuses_new_ones():
    """S3: shutting the pool down cancels the chains no thread took yet; the running one finishes."""
    pool = ChainPool(1, "test-slacker-pool-shutdown")
    started, release = threading.Event(), threading.Event()

    def block(_):
        started.set()
        release.wait(10)
        return "done"

    async def main():
        running = pool.submit(block, None)
        pending = pool.submit(lambda _: "never", None)
        await asyncio.to_thread(started.wait, 10)
        pool.shutdown()
        release.set()
        with pytest.raises(RuntimeError, match="shut down"):
            pool.submit(lambda _: None, None)
        assert await running == "done"
        with pytest.raises(asyncio.CancelledError):
            await pending

    asyncio.run(main())
