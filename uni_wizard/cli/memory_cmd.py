"""``memory search "TEXT" [--repo R] [--limit N] [--json]``: what the mesh's memory of the forge knows about
TEXT (issues, pull requests, reports, review verdicts, decisions), best first, with their forge links."""

from __future__ import annotations

import typer

from ..memory import MemoryIndex, vectors_status
from .common import console, options, print_json

__all__ = ["register"]

memory_app = typer.Typer(help="The mesh's memory of the forge: search it.", no_args_is_help=True)


@memory_app.command("search")
def search(
    ctx: typer.Context,
    text: str = typer.Argument(..., help="What to look for (any of its words; BM25 ranking)."),
    repo: str | None = typer.Option(None, "--repo", help="Only this repository (owner/name)."),
    limit: int = typer.Option(10, "--limit", min=1, max=100, help="How many results at most."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Search the memory of the forge (FTS5 BM25) for TEXT."""
    index = MemoryIndex(options(ctx).runtime().store)
    hits = index.search(text, repo=repo, limit=limit)
    status = vectors_status()
    if as_json:
        print_json({"search": status["search"], "vectors": status["vectors"], "results": [h.as_dict() for h in hits]})
        return
    if not hits:
        console.print(f"nothing found ({index.count()} documents in the memory)", markup=False)
        return
    for hit in hits:
        console.print(f"{hit.score:7.3f}  {hit.repo}#{hit.number} [{hit.kind}] {hit.title}", markup=False)
        console.print(f"         {hit.url or '(no link)'}", markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(memory_app, name="memory")
