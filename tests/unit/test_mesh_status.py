"""The lease as the mesh view shows it: read through the lease's own reader from a recording fake forge."""

from __future__ import annotations

from typing import Any

from uni_wizard.dispatch.lease_record import LeaseRecord
from uni_wizard.errors import ForgeUnavailable, NotFound
from uni_wizard.forge.models import FileContent
from uni_wizard.mesh.peers import PeerProber
from uni_wizard.mesh.status import LeaseWatch, MeshView, forge_lease_reader
from uni_wizard.meshfile.schema import HostEntry, LeaseSettings, MeshConfig
from uni_wizard.testing import FakeClock


class FakeForge:
    """Answers ``get_contents`` from ``files`` (None: 404); records each read as ``owner/repo:path@ref``."""

    def __init__(self) -> None:
        self.files: dict[str, bytes | Exception] = {}
        self.reads: list[str] = []

    async def get_contents(self, owner: str, repo: str, path: str, *, ref: str | None = None) -> FileContent:
        self.reads.append(f"{owner}/{repo}:{path}@{ref}")
        found = self.files.get(path)
        if found is None:
            raise NotFound("not found", url=path)
        if isinstance(found, Exception):
            raise found
        return FileContent(path=path, sha="abc", content=found)

    async def create_file(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the mesh view never writes")

    async def update_file(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the mesh view never writes")


async def test_the_lease_holder_and_epoch_show_on_its_host_row() -> None:
    clock = FakeClock()
    forge = FakeForge()
    settings = LeaseSettings()
    watch = LeaseWatch(forge_lease_reader(forge, settings), clock=clock)
    mesh = MeshConfig(hosts=(HostEntry(name="a", url="http://a"), HostEntry(name="b", url="http://b")))
    view = MeshView(mesh, "a", prober=PeerProber(mesh.peers_of("a"), mesh.peers), lease=watch, clock=clock)

    await watch.refresh()
    assert view.snapshot()["lease"]["holder"] is None  # no lease file yet

    record = LeaseRecord(holder="b", house="allegro", epoch=7, acquired=1.0, renewed=2.0, expires=clock() + 5)
    forge.files[settings.path] = record.to_json().encode()
    await watch.refresh()
    snap = view.snapshot()
    rows = {r["host"]: r for r in snap["hosts"]}
    assert (rows["b"]["lease_holder"], rows["b"]["lease_epoch"]) == (True, 7)
    assert (rows["a"]["lease_holder"], rows["a"]["lease_epoch"]) == (False, None)
    assert snap["lease"]["expired"] is False and snap["lease"]["house"] == "allegro"
    assert forge.reads[-1] == f"{settings.repo}:{settings.path}@{settings.branch}"

    clock.advance(10)
    assert view.snapshot()["lease"]["expired"] is True

    forge.files[settings.path] = ForgeUnavailable("the forge could not be reached")
    await watch.refresh()
    lease = view.snapshot()["lease"]
    assert lease["error"] == "the forge could not be reached" and lease["holder"] == "b"  # the last known record

    forge.files[settings.path] = b"{not a lease"
    await watch.refresh()
    assert "damaged" in view.snapshot()["lease"]["error"]
    await view.prober.aclose()


def test_without_a_forge_the_lease_is_unknown() -> None:
    assert LeaseWatch(None).view() is None
