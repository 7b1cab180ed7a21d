"""Typed lines in, core actions out; core events in, screen lines out.

One controller serves the host's own participant and every joiner, in the terminal,
in plain mode and in JSON mode: only the :class:`View` differs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from severus_cli.core.client.core import ClientCore
from severus_cli.core.client.events import DirectMessage, HostStats, Notice, Renamed, UiEvent
from severus_cli.net.participant import CoreAction
from severus_cli.runtime.ticket_notes import TicketSource, ticket_notices
from severus_cli.ui import input as cmd

if TYPE_CHECKING:
    from severus_cli.runtime.moderator import Moderator


def accept_key(core: ClientCore, nick: str, now: float) -> list[UiEvent]:
    """/accept: trust ``nick``'s changed key from now on. Only the user decides this,
    after comparing /verify codes, so it is a command and never a core reaction."""
    key = core.roster.key_of(nick)
    if key is None:
        return [Notice(now, f"nobody is called {nick}", "error")]
    accepted, text = core.peers.accept(core.roster.name_of(nick), key)
    return [Notice(now, text, "info" if accepted else "warn")]


class Participant(Protocol):
    core: ClientCore

    def perform(self, action: CoreAction) -> None: ...


class View(Protocol):
    def show_event(self, event: UiEvent) -> None: ...

    def clear(self) -> None: ...


class ChatController:
    def __init__(
        self,
        view: View,
        stats: Callable[[float], HostStats] | None = None,
        clock: Callable[[], float] | None = None,
        moderator: Moderator | None = None,
        path: Callable[[], str] | None = None,
        ticket: TicketSource = None,
    ) -> None:
        """``ticket``: the host's own, in its chat (read when shown: a moved mapping
        changes it); a joiner's, the one it joined with (None when it joined by address)."""
        import time

        self.view = view
        self.participant: Participant | None = None
        self.reply_to: str | None = None
        self._stats = stats
        self._moderator = moderator  # only the host's own chat has one
        self._path = path  # a joiner's: how it reaches the host (direct, punched, relayed)
        self._ticket = ticket
        self._clock = clock or time.time

    def show(self, events: list[UiEvent]) -> None:
        """Event sink for the participant driver."""
        for event in events:
            if isinstance(event, DirectMessage) and not event.own:
                self.reply_to = event.peer
            elif isinstance(event, Renamed) and self.reply_to == event.old:
                self.reply_to = event.new  # /reply follows the person, not the name
            self.view.show_event(event)

    def _notice(self, text: str, level: str = "info") -> None:
        self.show([Notice(self._clock(), text, level)])  # type: ignore[arg-type]

    def _offline(self, intent: cmd.Intent | None) -> bool:
        """While reconnecting only local commands work; nothing is silently dropped."""
        match intent:
            case cmd.Quit():
                return False
            case cmd.Help(topic=topic):
                for text in cmd.help_lines(topic):
                    self._notice(text)
            case cmd.Clear():
                self.view.clear()
            case cmd.ShowTicket():
                self.show(ticket_notices(self._ticket, self._stats is not None, self._clock()))
            case None:
                pass
            case _:
                self._notice("not connected (reconnecting); that was not sent", "warn")
        return True

    def handle(self, line: str) -> bool:
        """Act on one typed line; False when the user asked to quit."""
        intent = cmd.parse_line(line, reply_to=self.reply_to)
        participant = self.participant
        if participant is None:
            return self._offline(intent)
        do = participant.perform
        match intent:
            case None:
                pass
            case cmd.Say(text=text, action=action):
                do(lambda core, now: core.say(text, now, action=action))
            case cmd.Direct(nick=nick, text=text, action=action):
                do(lambda core, now: core.tell(nick, text, now, action=action))
            case cmd.ListUsers():
                do(lambda core, now: core.names(now))
            case cmd.ListRooms():
                do(lambda core, now: core.list_rooms(now))
            case cmd.JoinRoom(room=room):
                do(lambda core, now: core.join(room, now))
            case cmd.LeaveRoom():
                do(lambda core, now: core.part(now))
            case cmd.Whois(nick=nick):
                do(lambda core, now: core.whois(nick, now))
            case cmd.Verify(nick=nick):
                do(lambda core, now: core.verify(nick, now))
            case cmd.Rename(nick=nick):
                do(lambda core, now: core.rename(nick, now))
            case cmd.Accept(nick=nick):
                do(lambda core, now: accept_key(core, nick, now))
            case cmd.Ping():
                do(lambda core, now: core.ping(now))
            case cmd.Stats():
                if self._stats is None and self._path is not None:
                    self._notice(f"path to the host: {self._path()}; /ping for the round trip")
                elif self._stats is None:
                    self._notice("/stats is for the host; try /ping for your round trip")
                else:
                    self.show([self._stats(self._clock())])
            case cmd.Kick() | cmd.Ban() | cmd.ListBans() | cmd.Unban():
                if self._moderator is None:
                    self._notice("only the host can /kick, /ban and /unban", "error")
                else:
                    self.show(list(self._moderator.handle(intent)))
            case cmd.Help(topic=topic):
                for text in cmd.help_lines(topic):
                    self._notice(text)
            case cmd.Clear():
                self.view.clear()
            case cmd.ShowTicket():
                self.show(ticket_notices(self._ticket, self._stats is not None, self._clock()))
            case cmd.Quit(reason=reason):
                participant.core.quit_reason = reason  # said in the goodbye on closing
                return False
            case cmd.UnknownCommand(message=message) | cmd.BadCommand(message=message):
                self._notice(message, "error")
        return True
