"""A Prometheus scrape configuration for the mesh, made from ``configs/mesh.yaml`` (``mesh prometheus-config``).

    text = render_prometheus_config(load_mesh_config(Path("configs/mesh.yaml")))

One job, ``uni-wizard``, scrapes every host's daemon at its ``url`` + ``/metrics``; each target carries the
labels ``host`` (the mesh name), ``roles`` and ``houses`` (comma-separated, sorted as listed), so dashboards
and alerts can say which host and never need an address. A host served over https or under a path prefix
gets the target labels ``__scheme__``/``__metrics_path__`` Prometheus reads for it. The alert rules of
``configs/alerts/`` are referenced (relative paths resolve against the configuration file's directory).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from typing import Any

import yaml

from ..errors import ConfigError
from ..meshfile.schema import HostEntry, MeshConfig

__all__ = ["DEFAULT_RULE_FILES", "JOB", "prometheus_config", "render_prometheus_config", "scrape_target"]

JOB = "uni-wizard"
DEFAULT_RULE_FILES: tuple[str, ...] = ("../alerts/*.yml",)
"""Where the rules are from a configuration file kept in ``configs/prometheus/`` beside ``configs/alerts/``."""
HEADER = (
    "# The Prometheus scrape configuration of the mesh, made by `uni-wizard mesh prometheus-config` from {source}.\n"
    "# Do not edit: run the command again after changing the mesh file. Relative rule paths are read from this\n"
    "# file's directory.\n"
)


def scrape_target(host: HostEntry) -> dict[str, Any]:
    """The ``static_configs`` entry of ``host``: its address and labels (``ConfigError`` for an unusable url)."""
    url = urllib.parse.urlsplit(host.url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError(f"{host.url!r} is not an http(s) URL", source="a mesh file", key=f"hosts.{host.name}.url")
    try:
        port = url.port or (443 if url.scheme == "https" else 80)
    except ValueError:
        raise ConfigError(f"{host.url!r} has a bad port", source="a mesh file", key=f"hosts.{host.name}.url") from None
    name = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
    labels: dict[str, str] = {"host": host.name, "roles": ",".join(host.roles), "houses": ",".join(host.houses)}
    if url.scheme != "http":
        labels["__scheme__"] = url.scheme
    prefix = url.path.rstrip("/")
    if prefix:
        labels["__metrics_path__"] = f"{prefix}/metrics"
    return {"targets": [f"{name}:{port}"], "labels": labels}


def prometheus_config(
    mesh: MeshConfig,
    *,
    rule_files: Sequence[str] = DEFAULT_RULE_FILES,
    scrape_interval: str = "15s",
    evaluation_interval: str = "15s",
) -> dict[str, Any]:
    """The configuration as data: the global intervals, the rule files and the one job over the mesh's hosts."""
    if not mesh.hosts:
        raise ConfigError("the mesh lists no hosts: there is nothing to scrape", source="a mesh file", key="hosts")
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval},
        "rule_files": list(rule_files),
        "scrape_configs": [
            {
                "job_name": JOB,
                "metrics_path": "/metrics",
                "static_configs": [scrape_target(host) for host in mesh.hosts],
            }
        ],
    }


def render_prometheus_config(
    mesh: MeshConfig,
    *,
    source: str = "the mesh file",
    rule_files: Sequence[str] = DEFAULT_RULE_FILES,
    scrape_interval: str = "15s",
    evaluation_interval: str = "15s",
) -> str:
    """``prometheus_config(mesh, ...)`` as YAML, under a header naming ``source`` (the mesh file as given)."""
    config = prometheus_config(
        mesh, rule_files=rule_files, scrape_interval=scrape_interval, evaluation_interval=evaluation_interval
    )
    body = yaml.safe_dump(config, sort_keys=False, width=110)
    return HEADER.format(source=source) + body
