"""Postponed chains: attribute access, calls and indexing recorded, not run (S1).

``postpone(obj)`` returns a :class:`Postponed` proxy. Every attribute it is
asked for, every call and every ``[...]`` returns a *new* proxy one step
longer; nothing touches ``obj``. The recorded :class:`Chain` (the root object
and a tuple of steps) is plain, immutable and picklable, so a worker in
another thread or process can replay it.

The proxy has no attributes of its own that a chain could collide with: every
name that is not a dunder is recorded (``postpone(obj).run`` records ``.run``).
A chain runs with ``await chain`` (see :mod:`djworkers.slacker.runner`), and
:func:`chain_of` returns what it recorded.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import types
from collections.abc import Generator
from typing import Any


@dataclasses.dataclass(frozen=True)
class ModuleRef:
    """A module, pickled by name (modules themselves do not pickle)."""

    name: str

    def resolve(self) -> types.ModuleType:
        return importlib.import_module(self.name)


@dataclasses.dataclass(frozen=True)
class Attr:
    """``.name``"""

    name: str

    def apply(self, value: Any) -> Any:
        return getattr(value, self.name)

    def describe(self) -> str:
        return f".{self.name}"


@dataclasses.dataclass(frozen=True)
class Call:
    """``(*args, **kwargs)``"""

    args: tuple = ()
    kwargs: tuple[tuple[str, Any], ...] = ()

    def apply(self, value: Any) -> Any:
        return value(*self.args, **dict(self.kwargs))

    def describe(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs]
        return f"({', '.join(parts)})"


@dataclasses.dataclass(frozen=True)
class Item:
    """``[key]``: an index, a key or a slice."""

    key: Any

    def apply(self, value: Any) -> Any:
        return value[self.key]

    def describe(self) -> str:
        key = self.key
        if isinstance(key, slice):
            text = ":".join("" if p is None else repr(p) for p in (key.start, key.stop))
            if key.step is not None:
                text += f":{key.step!r}"
            return f"[{text}]"
        return f"[{key!r}]"


Step = Attr | Call | Item

_new = object.__new__
_set = object.__setattr__


@dataclasses.dataclass(frozen=True)
class Chain:
    """What a :class:`Postponed` recorded: ``root`` then ``steps``, applied in order."""

    root: Any
    steps: tuple[Step, ...] = ()

    def then(self, step: Step) -> Chain:
        # Built without the dataclass __init__: every recorded step makes one, on the event loop.
        chain = _new(Chain)
        _set(chain, "root", self.root)
        _set(chain, "steps", (*self.steps, step))
        return chain

    def execute(self) -> Any:
        """Run the chain here, now, and return its value (what the workers call)."""
        value = self.root.resolve() if isinstance(self.root, ModuleRef) else self.root
        for step in self.steps:
            value = step.apply(value)
        return value

    def describe(self) -> str:
        """``User.objects.get(pk=1)``: for logs, errors and the status page."""
        root = self.root
        if isinstance(root, ModuleRef):
            name = root.name
        else:
            name = getattr(root, "__qualname__", None) or f"<{type(root).__qualname__}>"
        text = name + "".join(step.describe() for step in self.steps)
        return text if len(text) <= 200 else text[:197] + "..."


class Postponed:
    """A recorded chain that looks like the object it wraps.

    Build it with :func:`postpone`. Awaiting it runs the chain on its worker.
    """

    __slots__ = ("_djworkers_chain", "_djworkers_worker")

    def __init__(self, chain: Chain, worker: Any = None):
        object.__setattr__(self, "_djworkers_chain", chain)
        object.__setattr__(self, "_djworkers_worker", worker)

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            return object.__getattribute__(self, name)
        return _extend(self, _attr(name))

    def __getattr__(self, name: str) -> Any:  # dunders the proxy lacks (``__len__`` of a list ...)
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a postponed chain is immutable: it records, it cannot be assigned to")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("a postponed chain is immutable")

    def __call__(self, *args: Any, **kwargs: Any) -> Postponed:
        return _extend(self, Call(tuple(args), tuple(kwargs.items())))

    def __getitem__(self, key: Any) -> Postponed:
        return _extend(self, Item(key))

    def __await__(self) -> Generator[Any, None, Any]:
        from .runner import run

        return run(self).__await__()

    def __repr__(self) -> str:
        return f"<postponed {chain_of(self).describe()}>"

    def __bool__(self) -> bool:
        raise TypeError("a postponed chain has no truth value until it runs: await it first")

    def __iter__(self) -> Any:
        raise TypeError("a postponed chain cannot be iterated until it runs: iterate `await chain`")

    def __reduce__(self) -> Any:
        raise TypeError("pickle the chain (djworkers.slacker.chain_of(p)), not the proxy")


# The slots' own descriptors: the proxy's __getattribute__ records every name.
_get_chain = Postponed.__dict__["_djworkers_chain"].__get__
_set_chain = Postponed.__dict__["_djworkers_chain"].__set__
_get_worker = Postponed.__dict__["_djworkers_worker"].__get__
_set_worker = Postponed.__dict__["_djworkers_worker"].__set__


def _extend(proxy: Postponed, step: Step) -> Postponed:
    extended = _new(Postponed)
    _set_chain(extended, _get_chain(proxy).then(step))
    _set_worker(extended, _get_worker(proxy))
    return extended


@functools.lru_cache(maxsize=1024)
def _attr(name: str) -> Attr:
    """One (immutable) ``Attr`` step per name: ``.objects`` and ``.get`` are recorded on every chain."""
    return Attr(name)


def postpone(obj: Any, *, worker: Any = None) -> Any:
    """Record what is done to ``obj`` instead of doing it: ``await postpone(User).objects.get(pk=1)``.

    ``obj`` is a class, an instance, a module or a callable; it and every
    argument recorded must pickle for the ``http`` and ``queue`` workers.
    ``worker`` names the worker (``"thread"``, ``"http"``, ...) or is a
    worker object; by default ``DJWORKERS["SLACKER"]["WORKER"]`` runs it.
    Postponing a proxy starts from its chain (with the new worker if given).
    """
    if isinstance(obj, Postponed):
        chain = chain_of(obj)
        return Postponed(chain, worker if worker is not None else worker_of(obj))
    root = ModuleRef(obj.__name__) if isinstance(obj, types.ModuleType) else obj
    return Postponed(Chain(root), worker)


def chain_of(proxy: Postponed) -> Chain:
    """The :class:`Chain` a proxy recorded."""
    if not isinstance(proxy, Postponed):
        raise TypeError(f"expected a postponed chain (from postpone(...)), got {type(proxy).__qualname__}")
    return object.__getattribute__(proxy, "_djworkers_chain")


def worker_of(proxy: Postponed) -> Any:
    """The worker given to :func:`postpone` for this chain, or None for the configured one."""
    return object.__getattribute__(proxy, "_djworkers_worker")
