"""A small Tornado application whose handlers await Django queries without blocking its loop.

``GET /uploads.json`` asks for the newest uploads of the demo through the HTTP
worker (the chain runs in the Django server, at ``DJWORKERS["SLACKER"]["SERVER"]``)
and for their count and one upload by primary key through the thread worker
(a pool in this process), all at once with ``asyncio.gather``.
``GET /uploads/<pk>.json`` shows ``Upload.DoesNotExist`` raised through ``await``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import tornado.web

from demo.models import Upload
from djworkers.slacker import postpone

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>djworkers slacker example</title></head>
<body style="font: 15px/1.45 system-ui, sans-serif; max-width: 760px; margin: 0 auto; padding: 16px">
<h1>Tornado, awaiting Django queries</h1>
<p>Each request below awaits postponed ORM chains: <code>await postpone(Upload, worker="http").objects...</code>
runs in the Django server, <code>worker="thread"</code> in a thread pool of this process. The event loop keeps
serving meanwhile.</p>
<ul><li><a href="/uploads.json">/uploads.json</a>: newest uploads (http worker), count and a lookup (thread worker)</li>
<li><a href="/uploads/1.json">/uploads/1.json</a>: one upload by primary key, 404 through <code>DoesNotExist</code></li></ul>
</body></html>"""


class JSONHandler(tornado.web.RequestHandler):
    def set_default_headers(self) -> None:
        # The demo's Django home page calls this app from another origin.
        self.set_header("Access-Control-Allow-Origin", "*")


class HomeHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write(PAGE)


class UploadsHandler(JSONHandler):
    async def get(self) -> None:
        started = time.perf_counter()
        newest, count = await asyncio.gather(
            postpone(Upload, worker="http").objects.order_by("-id").values("id", "name", "words")[:5],
            postpone(Upload, worker="thread").objects.count(),
        )
        newest = list(newest)
        first: dict[str, Any] | None = None
        if newest:
            upload = await postpone(Upload, worker="thread").objects.get(pk=newest[-1]["id"])
            first = {"id": upload.pk, "name": upload.name, "lines": upload.lines}
        self.write(
            {
                "http": {"newest": newest},
                "thread": {"count": count, "lookup": first},
                "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
            }
        )


class UploadHandler(JSONHandler):
    async def get(self, pk: str) -> None:
        try:
            upload = await postpone(Upload, worker="http").objects.get(pk=int(pk))
        except Upload.DoesNotExist:
            self.set_status(404)
            self.write({"error": f"no upload #{pk} (Upload.DoesNotExist, raised through await)"})
            return
        self.write({"id": upload.pk, "name": upload.name, "words": upload.words})


def make_app() -> tornado.web.Application:
    return tornado.web.Application(
        [
            (r"/", HomeHandler),
            (r"/uploads\.json", UploadsHandler),
            (r"/uploads/(\d+)\.json", UploadHandler),
        ]
    )
