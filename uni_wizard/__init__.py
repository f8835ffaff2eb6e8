"""uni-wizard: run a mesh of AI agent houses, coordinated through a self-hosted Gitea.

from uni_wizard import Harness, House, Mode
harness = Harness(house=House.TIMMY, mode=Mode.INTELLIGENT)
result = harness.execute("git_status", repo_path="/srv/repo")

The public names are imported on first use (PEP 562): ``import uni_wizard.errors`` or the CLI's ``--help``
do not load the Harness, pydantic or httpx.
"""

import importlib as _importlib
import typing as _typing

from ._version import __version__

if _typing.TYPE_CHECKING:
    from . import errors
    from .config import Settings, load_settings
    from .errors import PolicyDenied, ToolCallError, ToolExecutionError, UniWizardError
    from .harness import Call, Harness, Result, Runtime, Status
    from .policy import House, HousePolicy, Mode
    from .tools.env import ToolEnv
    from .tools.registry import ToolRegistry
    from .tools.spec import ReadPath, Risk, WritePath, tool

__all__ = [
    "Call",
    "Harness",
    "House",
    "HousePolicy",
    "Mode",
    "PolicyDenied",
    "ReadPath",
    "Result",
    "Risk",
    "Runtime",
    "Settings",
    "Status",
    "ToolCallError",
    "ToolEnv",
    "ToolExecutionError",
    "ToolRegistry",
    "UniWizardError",
    "WritePath",
    "__version__",
    "errors",
    "load_settings",
    "tool",
]

_HOMES = {
    "Call": ".harness",
    "Harness": ".harness",
    "Result": ".harness",
    "Runtime": ".harness",
    "Status": ".harness",
    "House": ".policy",
    "HousePolicy": ".policy",
    "Mode": ".policy",
    "PolicyDenied": ".errors",
    "ToolCallError": ".errors",
    "ToolExecutionError": ".errors",
    "UniWizardError": ".errors",
    "Settings": ".config",
    "load_settings": ".config",
    "ToolEnv": ".tools.env",
    "ToolRegistry": ".tools.registry",
    "ReadPath": ".tools.spec",
    "Risk": ".tools.spec",
    "WritePath": ".tools.spec",
    "tool": ".tools.spec",
}


def __getattr__(name: str) -> _typing.Any:
    """A public name, imported from its module the first time it is asked for."""
    if name == "errors":
        return _importlib.import_module(".errors", __name__)
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
