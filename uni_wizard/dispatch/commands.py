"""Comment commands: the owner (and Timmy) steer from the forge thread, as Prow and Atlantis users do.

The grammar, shared by the dispatcher (commands on issues, ``issue_commands.py``) and the reviewer (commands
on pull requests, ``review/commands.py``)::

    /hold              issue: the dispatcher does not route it; PR: the `hold` label, which the merge gate honours
    /unhold            lifts it (`/hold cancel` too, as in Prow)
    /retry             issue in status/blocked: back to triage
    /route <house>     issue: routed to <house>, overriding routing (said in the audit comment)
    /approve [<sha>]   PR, the owner only: answered with how to approve that head (the review button) and
                       what else blocks the merge; it approves nothing itself
    /explain           issue: the routing explanation, as routing decides now; PR: what blocks its merge

A command is a line of a comment that starts with ``/`` and one of those names (lower case), outside fenced
code blocks and ``>`` quotes; anything after the name is its argument. Other ``/words`` are not ours and are
left alone. A comment may hold several commands; they act in order.

**Who.** Only the owner and the sovereign house's forge user (Timmy) may use them (``Authority``); anyone
else gets one polite refusal per comment, and nothing is done.

**Once.** A comment's commands are answered by one reply from the lane's forge user carrying
``<!-- uni-wizard:command comment=<id> -->`` (``reply_marker``). The commands of a comment with such a reply are
done: a restart, a replayed webhook or the next sweep finds the reply and does nothing. The reply is written
after the commands acted, and every action is idempotent (a label already there is not added again), so a
crash between the two redoes nothing harmful. Editing a comment after its reply changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..forge.models import Comment

__all__ = [
    "HOLD_COLOR",
    "HOLD_DESCRIPTION",
    "NAMES",
    "Authority",
    "Command",
    "CommandComment",
    "Outcome",
    "answered",
    "parse",
    "pending",
    "render_reply",
    "reply_marker",
]

NAMES = ("hold", "unhold", "retry", "route", "approve", "explain")
HOLD_COLOR = "#b60205"
HOLD_DESCRIPTION = "held by /hold: an issue is not routed, a pull request not merged"
"""The hold label's colour and description, one for every lane (``ensure_label`` would otherwise flip them)."""
_LINE = re.compile(r"^/(?P<name>[a-z]+)(?:[ \t]+(?P<arg>.*?))?[ \t]*$")
_REPLY = re.compile(r"<!-- uni-wizard:command comment=(?P<id>\d+) -->")
_OURS = "<!-- uni-wizard:"  # every comment a lane writes carries a marker: never read as commands


@dataclass(frozen=True)
class Command:
    """One command: ``name`` (one of ``NAMES``), its argument (``""`` when none) and the line as written."""

    name: str
    arg: str = ""
    line: str = ""


@dataclass(frozen=True)
class CommandComment:
    """The commands of one comment, and who wrote it."""

    comment_id: int
    author: str
    commands: tuple[Command, ...]


@dataclass(frozen=True)
class Outcome:
    """What one command did (``acted``) or why not, as a sentence for the reply."""

    command: Command
    text: str
    acted: bool = True


@dataclass(frozen=True)
class Authority:
    """Who may use the commands: the owner, and the sovereign house's forge users (Timmy). ``/approve``
    belongs to the owner alone."""

    owner: str
    sovereigns: frozenset[str]

    @property
    def commanders(self) -> tuple[str, ...]:
        return (self.owner, *sorted(self.sovereigns - {self.owner}))

    def refusal(self, author: str, command: Command) -> str | None:
        """Why ``author`` may not use ``command`` (None: they may)."""
        if command.name == "approve" and author != self.owner:
            return f"only @{self.owner} approves, with the review button"
        if author == self.owner or author in self.sovereigns:
            return None
        return f"only {_mentions(self.commanders)} may use it"


def _mentions(logins: Sequence[str]) -> str:
    names = [f"@{login}" for login in logins]
    return " and ".join(names) if len(names) < 3 else ", ".join(names[:-1]) + " and " + names[-1]


def parse(body: str) -> tuple[Command, ...]:
    """The commands of a comment's ``body``, in order (see the module's docstring)."""
    found = []
    fenced = False
    for raw in body.splitlines():
        line = raw.strip()
        if line.startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced or line.startswith(">"):
            continue
        match = _LINE.match(line)
        if match is None:
            continue
        name, arg = match["name"], (match["arg"] or "").strip()
        if name == "hold" and arg.lower() == "cancel":
            name, arg = "unhold", ""
        if name in NAMES:
            found.append(Command(name, arg, line))
    return tuple(found)


def reply_marker(comment_id: int) -> str:
    return f"<!-- uni-wizard:command comment={comment_id} -->"


def answered(comments: Iterable[Comment], bot: str) -> set[int]:
    """The ids of the comments ``bot`` has answered already."""
    done: set[int] = set()
    for comment in comments:
        if comment.user is not None and comment.user.login == bot:
            done.update(int(m["id"]) for m in _REPLY.finditer(comment.body))
    return done


def pending(comments: Sequence[Comment], bot: str) -> list[CommandComment]:
    """The comments holding commands that ``bot`` has not answered yet, oldest first."""
    done = answered(comments, bot)
    found = []
    for comment in sorted(comments, key=lambda c: c.id):
        if comment.id in done or comment.user is None or _OURS in comment.body:
            continue
        commands = parse(comment.body)
        if commands:
            found.append(CommandComment(comment.id, comment.user.login, commands))
    return found


def render_reply(
    asked: CommandComment, outcomes: Sequence[Outcome], *, footer: str, extra: Sequence[str] = (), audit: str = ""
) -> str:
    """The one reply to ``asked``: per command, what was done or why not. ``audit`` is an audit marker of the
    lane's, put first when the reply is also an audit comment; ``extra`` lines follow the outcomes."""
    lines = [audit] if audit else []
    lines.append(reply_marker(asked.comment_id))
    for outcome in outcomes:
        lines.append(f"- `{outcome.command.line or '/' + outcome.command.name}`: {outcome.text}")
    lines += [*extra, "", footer]
    return "\n".join(lines)
