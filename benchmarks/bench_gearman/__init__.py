"""The Gearman benchmark's job, installed only when ``BENCH_GEARMAN`` names the private gearmand."""
