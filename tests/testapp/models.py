"""Models the queue tests' jobs write to (the djutils README example, exactly-once proofs)."""

from django.db import models


class Churnable(models.Model):
    """The README's ``model_instance``: something with data to churn in the background."""

    name = models.CharField(max_length=100)
    results = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.name

    def process_data(self, some_data: str, another_value: int) -> str:
        return f"{some_data.upper()}x{another_value}"

    def propagate_results(self, results: str) -> None:
        self.results = results
        self.save(update_fields=["results"])


class JobRun(models.Model):
    """One row per completed job; the unique key makes a second run of the same job fail loudly."""

    key = models.CharField(max_length=100, unique=True)
    pid = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.key} (pid {self.pid})"


class JobEvent(models.Model):
    """Non-unique log of what jobs did (started, attempt n, ...), with the process that did it."""

    key = models.CharField(max_length=100, db_index=True)
    event = models.CharField(max_length=50)
    pid = models.IntegerField(default=0)
    at = models.FloatField(default=0)

    def __str__(self) -> str:
        return f"{self.key}: {self.event} (pid {self.pid})"
