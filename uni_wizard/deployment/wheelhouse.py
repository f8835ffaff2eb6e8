"""The wheelhouse: wheels of uni-wizard and every dependency, so hosts without internet install with
``pip install --no-index --find-links``. Built with ``pip wheel`` pinned to the versions installed here
(the ones the tests ran with); a release is named after the uni-wizard version and the wheels' digest.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path

from ..errors import DeployFailed

__all__ = ["build_wheelhouse", "pack_wheelhouse", "release_name"]

PACKAGE = "uni-wizard"
BUILD_TIMEOUT = 900.0


def release_name(wheelhouse: Path) -> str:
    """``<version>-<digest12>``: the uni-wizard wheel's version and a digest of every wheel in the directory."""
    wheels = sorted(wheelhouse.glob("*.whl"))
    own = [w for w in wheels if w.name.startswith("uni_wizard-")]
    if len(own) != 1:
        raise DeployFailed(f"{wheelhouse} must hold exactly one uni_wizard wheel, found {len(own)}")
    digest = hashlib.sha256()
    for wheel in wheels:
        digest.update(wheel.name.encode())
        digest.update(hashlib.sha256(wheel.read_bytes()).digest())
    version = own[0].name.split("-")[1]
    return f"{version}-{digest.hexdigest()[:12]}"


def _constraints() -> str:
    """``name==version`` of every distribution installed here but uni-wizard itself."""
    pins = {
        dist.metadata["Name"].lower(): dist.version
        for dist in metadata.distributions()
        if dist.metadata["Name"] and dist.metadata["Name"].lower() != PACKAGE
    }
    return "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


def build_wheelhouse(source: Path, dest: Path, *, timeout: float = BUILD_TIMEOUT) -> Path:
    """Build the uni-wizard wheel from ``source`` (a checkout or a wheel) and fetch its dependencies' wheels
    into ``dest``, pinned to this environment's versions. Raises DeployFailed with pip's output on failure."""
    dest.mkdir(parents=True, exist_ok=True)
    for stale in dest.glob("uni_wizard-*.whl"):
        stale.unlink()  # one uni-wizard wheel per wheelhouse: release_name relies on it
    with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix="constraints-") as constraints:
        constraints.write(_constraints())
        constraints.flush()
        argv = [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check"]
        argv += ["--wheel-dir", str(dest), "--constraint", constraints.name, str(source)]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise DeployFailed(f"building the wheelhouse took longer than {timeout:.0f} s") from exc
    if done.returncode != 0:
        raise DeployFailed(f"pip wheel failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return dest


def pack_wheelhouse(wheelhouse: Path, dest_dir: Path) -> Path:
    """The wheels as one tar (``<release>.tar`` in ``dest_dir``, made once): the deploy ships one file, not
    thirty, and a host keeps one directory of wheels per release."""
    tar_path = dest_dir / f"{release_name(wheelhouse)}.tar"
    if tar_path.exists():
        return tar_path
    dest_dir.mkdir(parents=True, exist_ok=True)
    partial = tar_path.with_suffix(".partial")
    with tarfile.open(partial, "w") as tar:
        for wheel in sorted(wheelhouse.glob("*.whl")):
            info = tar.gettarinfo(str(wheel), arcname=wheel.name)
            info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = 0, 0, 0, "root", "root", 0o644
            with wheel.open("rb") as data:
                tar.addfile(info, data)
    partial.rename(tar_path)
    return tar_path
