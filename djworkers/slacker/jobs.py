"""The queue worker's job: a queue consumer runs a chain and stores its outcome as the job's result.

The chain travels as its signed frame (base64 text, so any configured
serializer carries it) with the caller's deadline; the result is the signed
outcome frame, also as text. A chain whose caller has given up by the time a
consumer picks it up is not run. The chain's own exception is part of the
outcome, not a failure of the job: no retries, nothing in the failed-job store.
"""

from __future__ import annotations

import base64
import time

from ..queue import queue_command
from .exceptions import SlackerTimeout
from .wire import decode_chain, encode_result, run_chain

JOB_NAME = "djworkers.slacker.run_chain"


@queue_command(name=JOB_NAME, result=True)
def run_chain_job(frame: str, deadline: float) -> str:
    late = time.time() - deadline
    if late > 0:
        outcome = (
            "error",
            SlackerTimeout(f"the chain waited in the queue {late:.1f}s past its caller's timeout; it was not run"),
        )
    else:
        # The queue message carrying the frame was verified by the consumer; the age limit of the
        # http endpoint does not apply to a chain that waited its turn in a queue.
        outcome = run_chain(decode_chain(base64.b64decode(frame), max_age=float("inf")))
    return base64.b64encode(encode_result(outcome)).decode("ascii")
