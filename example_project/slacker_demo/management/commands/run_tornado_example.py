"""``manage.py run_tornado_example``: serve the slacker example's Tornado app until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal

from django.core.management.base import BaseCommand

from djworkers.runtime.cli import positive_int


class Command(BaseCommand):
    help = "Serve the Tornado app of the slacker example (handlers awaiting postponed Django queries)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=positive_int, default=8001, help="Port to listen on (default 8001).")
        parser.add_argument("--address", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")

    def handle(self, *args, **options):
        asyncio.run(self.serve(options["address"], options["port"]))

    async def serve(self, address: str, port: int) -> None:
        from slacker_demo.tornado_app import make_app

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        server = make_app().listen(port, address=address)
        self.stdout.write(f"Tornado slacker example on http://{address}:{port}/", ending="\n")
        self.stdout.flush()
        await stop.wait()
        server.stop()
        await server.close_all_connections()
