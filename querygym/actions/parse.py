"""Reading an agent's text: the action lists it contains, wherever they are.

An agent may write the paper's form (``Action: ["perform_limit", "T_1", "3"]``), a bare list, a
JSON object ``{"action": ..., "args": [...]}``, a code fence, Python-style quotes, or an action
embedded in prose; the candidates come back in the order a reader would trust them (after the
last ``Action:`` first).  Which candidate is an action of the catalog is the catalog's call.

>>> extract_candidates('I will look first. Action: ["get_tables"]')
[['get_tables']]
>>> object_to_list({"action": "perform_limit", "args": ["T_0", "3"]})
['perform_limit', 'T_0', '3']
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any, Mapping

from querygym.errors import InvalidActionError


def object_to_list(obj: dict[str, Any]) -> list[Any]:
    """An action written as a JSON object (``{"action": ..., "args": [...]}``) as the list form."""
    name = obj.get("action", obj.get("name"))
    args = obj.get("args", obj.get("arguments", obj.get("params", obj.get("parameters", []))))
    if isinstance(args, Mapping):
        raise InvalidActionError(
            'In the object form, "args" must be a list in parameter order, e.g. '
            '{"action": "get_columns", "args": ["T_0"]}.')
    if not isinstance(args, (list, tuple)):
        args = [args]
    return [name, *args]


_FENCE = re.compile(r"```(?:json|python)?\s*(.*?)```", re.S)
_ACTION_MARK = re.compile(r"action\s*:", re.I)


def extract_candidates(text: str) -> list[list[Any]]:
    """Every JSON (or Python-literal) list or action object found in ``text``, in order.

    When the text has an ``Action:`` marker, only what follows the last marker counts.
    """
    if text[:1] == "[" and text[-1:] == "]":  # a bare JSON list, as programs send it: read at once
        try:
            value = _DECODER.decode(text)
        except (ValueError, RecursionError):
            pass
        else:
            if value and isinstance(value, list) and isinstance(value[0], str) and not _ACTION_MARK.search(text):
                return [value]
    marks = list(_ACTION_MARK.finditer(text))
    if marks:
        tail = text[marks[-1].end():]
        found = _scan(tail)
        if found:
            return found[:1]
    fenced = [m.group(1) for m in _FENCE.finditer(text)]
    found = []
    for block in fenced or [text]:
        found.extend(_scan(block))
    return found


_DECODER = json.JSONDecoder()


def _scan(text: str) -> list[list[Any]]:
    decoder = _DECODER
    matches: dict[int, int | None] = {}  # bracket matches found so far, so a scan is linear, not quadratic
    out: list[list[Any]] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in "[{":
            value, end = _decode_at(decoder, text, i, matches)
            if value is not None:
                if isinstance(value, dict):
                    if "action" in value or "name" in value:
                        try:
                            out.append(object_to_list(value))
                        except InvalidActionError:
                            pass
                elif value and isinstance(value, list) and isinstance(value[0], str):
                    out.append(value)
                i = end
                continue
            i = max(i + 1, end)  # past what cannot be read (all of it, when it nests too deeply)
            continue
        i += 1
    return out


def _decode_at(decoder: json.JSONDecoder, text: str, start: int,
               matches: dict[int, int | None] | None = None) -> tuple[Any, int]:
    if matches is not None and start in matches and matches[start] is None:
        return None, start + 1  # known never to close: neither JSON nor a literal can be read there
    try:
        return decoder.raw_decode(text, start)
    except ValueError:
        pass
    except RecursionError:
        # nested deeper than Python's JSON decoder recurses: no action is in there, and each
        # bracket inside would fail the same way, so the whole bracketed text is skipped
        end = _matching_bracket(text, start, matches)
        return None, len(text) if end is None else end + 1
    end = _matching_bracket(text, start, matches)
    if end is None:
        return None, start + 1
    try:
        value = ast.literal_eval(text[start:end + 1])
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None, start + 1
    if isinstance(value, tuple):
        value = list(value)
    return value, end + 1


def _matching_bracket(text: str, start: int, matches: dict[int, int | None] | None = None) -> int | None:
    """Index of the bracket closing the one at ``start``, skipping quoted strings.

    ``matches`` remembers the answer for every bracket the scan passes outside quotes: a scan
    from such a bracket would read the same characters in the same quoting state, so it closes
    where this scan closed it, or never if this scan never did.  Text of thousands of unclosed
    brackets is then read once, not once per bracket.
    """
    if matches is not None and start in matches:
        return matches[start]
    pairs = {"[": "]", "{": "}"}
    stack = [(pairs[text[start]], start)]
    found: dict[int, int | None] = {}
    quote = None
    i = start + 1
    result = None
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in pairs:
            stack.append((pairs[ch], i))
        elif ch in "]}":
            expected, opened = stack.pop()
            if ch != expected:
                stack.append((expected, opened))
                break
            found[opened] = i
            if not stack:
                result = i
                break
        i += 1
    for _, opened in stack:  # still open at a mismatch or at the end of the text: never closed
        found[opened] = None
    if matches is not None:
        matches.update(found)
    return result
