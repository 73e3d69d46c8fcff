"""The ztask door's part of the example project: tasks sent to ``manage.py ztaskd``."""
