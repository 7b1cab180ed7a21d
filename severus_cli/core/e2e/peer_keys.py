"""The sender keys other members handed us, with bounds.

A member can hand out keys without end: for rooms that do not exist, or a new epoch in
a loop. Before these bounds a flood of such gifts grew a participant's memory by tens of
MiB in seconds. So: at most :data:`KEEP_EPOCHS` per sender and room, at most
:data:`MAX_KEYS_PER_SENDER` per sender, at most :data:`MAX_KEYS` in all. Over a bound,
the oldest key of the sender that holds the most goes, so one member's flood evicts its
own keys first, never an honest member's while the flooder holds more. Pure code.
"""

from __future__ import annotations

from severus_cli.core.e2e import wire
from severus_cli.core.e2e.sender_keys import PeerSenderKey

KEEP_EPOCHS = 4  # old epochs kept per sender and room, for messages sent across a rekey
MAX_KEYS_PER_SENDER = 128  # e.g. 32 shared rooms with 4 epochs each
MAX_KEYS = 2048  # every sender together: about a MiB

Sender = tuple[bytes, str]  # (identity key, casefolded nick)
Slot = tuple[bytes, str, str]  # (identity key, casefolded nick, casefolded room)


class PeerKeys:
    """Keys by (sender, room, epoch); insertion order per sender decides what goes first."""

    def __init__(self) -> None:
        self._slots: dict[Slot, dict[bytes, PeerSenderKey]] = {}
        self._order: dict[Sender, dict[tuple[str, bytes], None]] = {}  # oldest first
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def count(self, sender: bytes, tag: str) -> int:
        return len(self._order.get((sender, tag), {}))

    def store(self, sender: bytes, tag: str, gift: wire.SenderKeyGift) -> None:
        room = gift.room.casefold()
        epochs = self._slots.setdefault((sender, tag, room), {})
        order = self._order.setdefault((sender, tag), {})
        if gift.epoch in epochs:  # handed again: it becomes the newest
            self._drop((sender, tag), room, gift.epoch)
            epochs = self._slots.setdefault((sender, tag, room), {})
            order = self._order.setdefault((sender, tag), {})
        epochs[gift.epoch] = PeerSenderKey.from_gift(sender, gift)
        order[(room, gift.epoch)] = None
        self._count += 1
        while len(epochs) > KEEP_EPOCHS:
            self._drop((sender, tag), room, next(iter(epochs)))
        while len(order) > MAX_KEYS_PER_SENDER:
            self._drop_oldest((sender, tag))
        while self._count > MAX_KEYS:
            self._drop_oldest(max(self._order, key=lambda s: len(self._order[s])))

    def get(self, slot: Slot, epoch: bytes) -> PeerSenderKey | None:
        return self._slots.get(slot, {}).get(epoch)

    def others(self, slot: Slot, epoch: bytes) -> list[PeerSenderKey]:
        """Keys with this epoch id that other senders (or rooms) handed us."""
        return [
            epochs[epoch]
            for other, epochs in self._slots.items()
            if other != slot and epoch in epochs
        ]

    def forget_sender(self, sender: bytes, tag: str | None = None) -> None:
        """A participant left: its keys go (every nick of that key when ``tag`` is None)."""
        for who in [s for s in self._order if s[0] == sender and (tag is None or s[1] == tag)]:
            for room, epoch in list(self._order[who]):
                self._drop(who, room, epoch)

    def forget_room(self, room: str) -> None:
        """We parted the room: everyone's keys for it go."""
        for slot in [s for s in self._slots if s[2] == room]:
            for epoch in list(self._slots[slot]):
                self._drop((slot[0], slot[1]), room, epoch)

    def _drop_oldest(self, sender: Sender) -> None:
        room, epoch = next(iter(self._order[sender]))
        self._drop(sender, room, epoch)

    def _drop(self, sender: Sender, room: str, epoch: bytes) -> None:
        slot = (sender[0], sender[1], room)
        epochs = self._slots.get(slot, {})
        if epochs.pop(epoch, None) is None:
            return
        self._count -= 1
        if not epochs:
            del self._slots[slot]
        order = self._order[sender]
        order.pop((room, epoch), None)
        if not order:
            del self._order[sender]
