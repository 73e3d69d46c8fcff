"""The slacker door's example: a Tornado app that awaits postponed queries (see tornado_app.py)."""
