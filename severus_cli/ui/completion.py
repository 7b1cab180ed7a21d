"""Tab completion at the chat prompt: command names, nicks, and rooms after /join."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from severus_cli.ui.help import COMMAND_NAMES


class ChatCompleter(Completer):
    """Tab completion: command names after '/', nicks elsewhere, rooms after /join.

    A nick completed as the first word gets ": " after it, as in irssi, so the
    line reads as addressed to that person.
    """

    def __init__(
        self,
        nicks: Callable[[], Iterable[str]],
        rooms: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        self._nicks = nicks
        self._rooms = rooms

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        before = document.text_before_cursor
        word = before.split(" ")[-1]
        first = " " not in before
        if first and word.startswith("/") and not word.startswith("//"):
            for name in _matches(word[1:], COMMAND_NAMES):
                yield Completion("/" + name + " ", -len(word), display="/" + name)
            return
        command = before.split(" ", 1)[0].casefold() if not first else ""
        if command == "/join" and self._rooms is not None:
            names = (r.removeprefix("#") for r in self._rooms())
            for room in _matches(word.removeprefix("#"), names):
                yield Completion("#" + room, -len(word))
            return
        suffix = ": " if first else ""
        for nick in _matches(word.removeprefix("@"), self._nicks()):
            yield Completion(nick + suffix, -len(word), display=nick)


def _matches(prefix: str, candidates: Iterable[str]) -> list[str]:
    """Case-insensitive prefix matches, sorted, without duplicates."""
    folded = prefix.casefold()
    found = {c for c in candidates if c.casefold().startswith(folded)}
    return sorted(found, key=lambda c: (c.casefold(), c))
