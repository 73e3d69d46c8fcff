"""Progress bars for long commands (tqdm, chosen once for the project)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], *, desc: str, enabled: bool = True, file: Any = None) -> Iterator[T]:
    """Iterate ``items`` with a progress bar on ``file`` (stderr) when ``enabled``."""
    if not enabled:
        yield from items
        return
    from tqdm import tqdm

    stream = getattr(file, "_out", file)  # unwrap Django's OutputWrapper
    yield from tqdm(items, desc=desc, file=stream, leave=False)
