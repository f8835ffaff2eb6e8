"""The files of the owner's mesh that ``init`` writes once the forge is ready: the configuration files, a
settings file per daemon, the mesh file and ``forge.yaml`` (last: it marks the directory as a mesh). Each
configuration file is loaded back with its own loader."""

from __future__ import annotations

import yaml

from .layout import mesh_repos
from .paths import ForgeFile, MeshDir
from .plan import Choice, settings_data
from .render import cascade_text, check_config, mesh_text, review_text, settings_text, triage_text
from .staging import Writer

__all__ = ["write_mesh_files"]


def _forge_text(choice: Choice) -> str:
    recorded = ForgeFile(
        forge="gitea" if choice.kind == "gitea" else "devforge",
        url=choice.url,
        port=choice.forge_port if choice.kind == "devforge" else None,
        owner=choice.owner,
        work_repo=str(choice.work),
        mesh_repo=mesh_repos()[0],
    )
    header = "# The forge of this mesh, as `uni-wizard init` chose it; `uni-wizard up` reads it. Do not edit.\n"
    return header + yaml.safe_dump(recorded.model_dump(exclude_none=True), sort_keys=False)


def write_mesh_files(choice: Choice, root: MeshDir, final: MeshDir, writer: Writer) -> None:
    """Write (when missing) every file of the mesh under ``root``, naming the paths of ``final`` inside them."""
    model = bool(choice.models)
    configs = {
        "triage.yaml": triage_text([str(choice.work), *mesh_repos()]),
        "review.yaml": review_text(choice.owner),
    }
    if model:
        configs["cascade.yaml"] = cascade_text(choice.ollama_url, choice.models or [])
    for name, text in configs.items():
        writer.file(root.config(name), text)
    for daemon in choice.daemons:
        data = settings_data(final, daemon, forge_url=choice.url, owner=choice.owner, model=model)
        writer.file(root.settings(daemon.name), settings_text(daemon, data, final.root))
    writer.file(root.mesh_file, mesh_text(choice.daemons, final.root))
    for name in configs:
        check_config(name, root.config(name))
    check_config("mesh.yaml", root.mesh_file)
    writer.file(root.forge_file, _forge_text(choice))
