"""An app with one every-minute @periodic_command, installed only in the consumer subprocesses of
the periodic test, so no other test's consumers schedule it."""
