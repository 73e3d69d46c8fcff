"""The worker runtime every management command uses.

- :mod:`.executor` runs one message (the only place a job is run).
- :mod:`.retry` decides when a failed job runs again.
- :mod:`.hooks` are the before/after/failure hooks around the executor.
- :mod:`.failures` records failed and quarantined jobs.
- :mod:`.source` is what a transport gives a worker: deliveries to ack or hand back.
- :mod:`.worker` runs job threads that each fetch and run their own batches, with graceful shutdown.
- :mod:`.supervisor` runs several processes (``--processes``, ``djworkers_run``); :mod:`.lifeline`
  makes them die with it.
- :mod:`.shutdown` and :mod:`.logs` are shared by every long-running command.
"""
