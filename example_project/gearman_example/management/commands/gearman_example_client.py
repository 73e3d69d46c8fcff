"""``manage.py gearman_example_client``: the README's client, one foreground and one background call."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from djworkers.gearman import GearmanClient, GearmanError


class Command(BaseCommand):
    help = "Call the gearman_example jobs: reverse a sentence (waits for it) and start background counting."

    def handle(self, *args, **options) -> None:
        client = GearmanClient()
        sentence = "The quick brown fox jumps over the lazy dog."
        try:
            self.stdout.write("Synchronous Gearman Call")
            self.stdout.write(f"Sentence: {sentence}")
            result = client.submit_job("gearman_example.reverse", sentence, poll_timeout=30)
            self.stdout.write(f"Result: {result}")
            self.stdout.write("Asynchronous Gearman Call")
            handle = client.dispatch_background_task("gearman_example.background_counting", None)
            self.stdout.write(f"Background job submitted: {handle}")
        except GearmanError as exc:
            raise CommandError(f"{exc} (is `manage.py gearman_worker` running?)") from exc
