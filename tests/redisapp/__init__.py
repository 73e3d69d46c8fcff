"""Jobs for tests/test_queue_redis_processes.py: installed in consumer subprocesses through
the settings JSON of tests.utils.spawn (and imported by the test process to enqueue them)."""
