"""Monitoring: what djworkers is doing (status), what it did (per-minute job
statistics) and the admin dashboard that shows both."""
