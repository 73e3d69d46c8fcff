"""The endpoint the ``http`` worker POSTs to (S5): run a signed, fresh chain, answer its outcome.

Anything that is not a chain signed with the project key (``SIGNING_KEY`` or
``SECRET_KEY``) and younger than ``DJWORKERS["SLACKER"]["MAX_AGE"]`` gets 403
before a byte of it is unpickled: the original unpickled any POST body, which
let anyone reaching the URL run code on the server.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .. import conf
from ..exceptions import BadSignature, InvalidMessage
from .exceptions import ChainExpired
from .runner import tracker
from .wire import decode_chain, encode_result, run_chain

logger = logging.getLogger("djworkers.slacker")

WORKER_NAME = "endpoint"


@csrf_exempt
@require_POST
def execute(request: HttpRequest) -> HttpResponse:
    try:
        chain = decode_chain(request.body, float(conf.section("SLACKER")["MAX_AGE"]))
    except BadSignature:
        logger.warning(
            "slacker endpoint: refused a chain whose signature does not verify (from %s)",
            request.META.get("REMOTE_ADDR"),
        )
        return HttpResponseForbidden("signature does not verify", content_type="text/plain")
    except ChainExpired as exc:
        logger.warning("slacker endpoint: refused an expired chain (from %s): %s", request.META.get("REMOTE_ADDR"), exc)
        return HttpResponseForbidden(str(exc), content_type="text/plain")
    except InvalidMessage as exc:
        # Signed by the project key but not a chain (another kind of frame): still refused.
        logger.warning("slacker endpoint: refused a signed frame that is not a chain: %s", exc)
        return HttpResponseForbidden("not a slacker chain", content_type="text/plain")
    tracker.started(WORKER_NAME)
    outcome = run_chain(chain)
    error = outcome[1] if outcome[0] == "error" else None
    tracker.finished(WORKER_NAME, error)
    if error is not None:
        logger.info("slacker endpoint: %s raised %s: %s", chain.describe(), type(error).__name__, error)
    return HttpResponse(encode_result(outcome), content_type="application/octet-stream")
