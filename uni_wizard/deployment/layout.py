"""Where a deployed host keeps uni-wizard: one place for the paths the deploy, the units and the reconciler share.

::

    /opt/uni-wizard/
        releases/<release>/        one venv per release (bin/uni-wizard), root-owned, never changed once built
        current -> releases/<release>   the release the units run (ExecStart=/opt/uni-wizard/current/bin/...)
        wheelhouse/<release>/      the wheels of a release as shipped by `uni-wizard deploy` (+ <release>.tar)
    /etc/uni-wizard/
        <role>.yaml                the settings of one role daemon (host, roles, house, bind, port, *_file,
                                   houses_dir and *_config pointing into houses/ and configs/)
        houses/*.yaml              the house policies    } seeded by the first deploy, then owned by the
        configs/*.yaml             mesh.yaml, triage...  } reconciler (the mesh repository's files)
        secrets/<name>             api_token, gitea_token, webhook_secret, syncthing_api_key: root, 0600;
                                   each unit gets them as /run/credentials/<unit>/secrets_<name> (LoadCredential=)
    /etc/systemd/system/
        uni-wizard@.service        the template; one enabled instance per role of the host
        uni-wizard@reconciler.service.d/reconciler.conf   the reconciler's extra rights
        uni-wizard@{worker,reviewer}.service.d/sandbox.conf   what bubblewrap needs to sandbox repository code
        uni-wizard.target          all role daemons of the host
    /var/lib/uni-wizard/           StateDirectory=: the SQLite store and the workspace
"""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import urlsplit

from ..config import ROLES
from ..meshfile.schema import HostEntry

__all__ = [
    "CONFIGS_DIR",
    "CONFIG_DIR",
    "CONFIG_SETTINGS",
    "CURRENT",
    "HOUSES_DIR",
    "RELEASES",
    "ROOT",
    "SECRETS_DIR",
    "SECRET_NAMES",
    "SERVICE_USER",
    "TARGET",
    "UNIT_DIR",
    "WHEELHOUSE",
    "credential_path",
    "role_config",
    "role_port",
    "unit_name",
]

ROOT = PurePosixPath("/opt/uni-wizard")
RELEASES = ROOT / "releases"
CURRENT = ROOT / "current"
WHEELHOUSE = ROOT / "wheelhouse"
CONFIG_DIR = PurePosixPath("/etc/uni-wizard")
SECRETS_DIR = CONFIG_DIR / "secrets"
HOUSES_DIR = CONFIG_DIR / "houses"
CONFIGS_DIR = CONFIG_DIR / "configs"
# configs/<file> -> the setting that names it (set in every role's settings when the file is seeded)
CONFIG_SETTINGS = {
    "mesh.yaml": "mesh_config",
    "triage.yaml": "triage_config",
    "review.yaml": "review_config",
    "upgrades.yaml": "upgrades_config",
    "cascade.yaml": "cascade_config",
}
UNIT_DIR = PurePosixPath("/etc/systemd/system")
SERVICE_USER = "uni-wizard"
TARGET = "uni-wizard.target"
SECRET_NAMES = ("api_token", "gitea_token", "webhook_secret", "syncthing_api_key")
DEFAULT_PORT = 8643


def unit_name(role: str) -> str:
    """``uni-wizard@<role>.service``: the unit of one role daemon."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
    return f"uni-wizard@{role}.service"


def role_config(role: str) -> PurePosixPath:
    """The settings file the role's unit passes to ``uni-wizard --config``."""
    unit_name(role)
    return CONFIG_DIR / f"{role}.yaml"


def credential_path(role: str, secret: str) -> PurePosixPath:
    """Where the role's unit finds ``secret`` (systemd copies /etc/uni-wizard/secrets there for the daemon)."""
    return PurePosixPath("/run/credentials") / unit_name(role) / f"secrets_{secret}"


def role_port(host: HostEntry, role: str) -> int:
    """The port of ``role``'s daemon on ``host``: the port of the host's ``url`` for its first role (in ROLES
    order), the next port for its second, and so on. So the host's ``url`` always reaches one of its daemons
    (peers probe it), whatever roles it has."""
    unit_name(role)
    own = [r for r in ROLES if r in host.roles]
    if role not in own:
        raise ValueError(f"host {host.name!r} has no {role!r} role (its roles: {', '.join(own) or 'none'})")
    port = urlsplit(host.url).port or DEFAULT_PORT
    return port + own.index(role)
