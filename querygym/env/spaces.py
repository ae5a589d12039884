"""The text space of querygym's observations and actions, and its shared-memory encoding.

Gymnasium's own shared-memory support for :class:`gymnasium.spaces.Text` cannot carry an
observation: ``AsyncVectorEnv`` calls ``read_from_shared_memory`` once, when it is built, and
returns that object at every ``reset`` and ``step``.  For a ``Box`` the object is a NumPy view
of the buffer, so it follows what the workers write; for ``Text`` it is a tuple of strings
decoded from the still-empty buffer, so every observation reads as ``max_length`` times the
first character of the charset (``"0000…"`` for ``string.printable``).  Writing would fail as
well for any character outside the charset (``"…"``, ``"—"``, a database's non-ASCII value).

:class:`TextSpace` therefore registers its own handlers with Gymnasium's single-dispatch
functions (``create_shared_memory``, ``read_from_shared_memory``,
``write_to_shared_memory``): each environment's slot holds the text's length followed by its
Unicode code points, and the object read back is a live :class:`SharedTexts`, decoded when it
is indexed or copied.  ``AsyncVectorEnv`` (``copy=True``, the default) deep-copies it into a
plain tuple of strings at every ``reset`` and ``step``, exactly what ``SyncVectorEnv`` returns.

>>> import multiprocessing
>>> space = TextSpace(8)
>>> memory = create_shared_memory(space, n=2, ctx=multiprocessing)
>>> texts = read_from_shared_memory(space, memory, n=2)
>>> write_to_shared_memory(space, 1, "né—ok", memory)
>>> tuple(texts)
('', 'né—ok')
"""

from __future__ import annotations

import multiprocessing
import string
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import create_shared_memory, read_from_shared_memory, write_to_shared_memory

_CODE_POINT = np.dtype("<u4")


class TextSpace(spaces.Text):
    """Any string up to ``max_length`` characters (database values are not limited to one alphabet).

    Sampling draws from printable ASCII, which makes random actions for fuzzing.  The space
    works with ``AsyncVectorEnv(..., shared_memory=True)`` (see the module's docstring).

    >>> space = TextSpace(5)
    >>> space.contains("héllo"), space.contains("too long")
    (True, False)
    """

    def __init__(self, max_length: int, *, seed: int | None = None):
        super().__init__(max_length, min_length=0, charset=string.printable, seed=seed)

    def contains(self, x: Any) -> bool:
        """Whether ``x`` is a string of at most ``max_length`` characters (any characters)."""
        return isinstance(x, str) and len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"TextSpace({self.max_length})"


class SharedTexts(Sequence):
    """The texts of ``n`` environments in a shared buffer, decoded on access.

    A deep copy is a plain tuple of strings, which is what vector environments hand out.
    """

    def __init__(self, buffer, n: int, max_length: int):
        self._buffer = buffer
        self._n = n
        self._width = max_length + 1  # one slot for the length, then the code points

    def _slots(self) -> np.ndarray:
        return np.frombuffer(self._buffer.get_obj(), dtype=_CODE_POINT).reshape(self._n, self._width)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index):
        if isinstance(index, slice):
            return tuple(self)[index]
        slot = self._slots()[index]
        length = int(slot[0])
        # surrogatepass: a lone surrogate from a database value round-trips like any other character
        return slot[1:1 + length].tobytes().decode("utf-32-le", "surrogatepass")

    def __iter__(self):
        return (self[i] for i in range(self._n))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    def __deepcopy__(self, memo) -> tuple[str, ...]:
        return tuple(self)

    def __copy__(self) -> tuple[str, ...]:
        return tuple(self)

    def __repr__(self) -> str:
        return f"SharedTexts({tuple(self)!r})"


@create_shared_memory.register(TextSpace)
def _create_text_shared_memory(space: TextSpace, n: int = 1, ctx=multiprocessing):
    return ctx.Array(_CODE_POINT.char, n * (space.max_length + 1))


@read_from_shared_memory.register(TextSpace)
def _read_text_from_shared_memory(space: TextSpace, shared_memory, n: int = 1) -> SharedTexts:
    return SharedTexts(shared_memory, n, space.max_length)


@write_to_shared_memory.register(TextSpace)
def _write_text_to_shared_memory(space: TextSpace, index: int, value: str, shared_memory) -> None:
    if not space.contains(value):
        raise ValueError(f"{space!r} cannot hold {type(value).__name__} of length "
                         f"{len(value) if isinstance(value, str) else '?'}; expected a string of at most "
                         f"{space.max_length} characters.")
    width = space.max_length + 1
    slots = np.frombuffer(shared_memory.get_obj(), dtype=_CODE_POINT)
    code_points = np.frombuffer(value.encode("utf-32-le", "surrogatepass"), dtype=_CODE_POINT)
    start = index * width
    slots[start] = len(code_points)
    slots[start + 1:start + 1 + len(code_points)] = code_points


__all__ = ["SharedTexts", "TextSpace"]
