"""uni-wizard: run a mesh of AI agent houses, coordinated through a self-hosted Gitea.

from uni_wizard import Harness, House, Mode
harness = Harness(house=House.TIMMY, mode=Mode.INTELLIGENT)
result = harness.execute("git_status", repo_path="/srv/repo")
"""

__version__ = "0.1.0"

from . import errors
from .config import Settings, load_settings
from .errors import (
    PolicyDenied,
    ToolCallError,
    ToolExecutionError,
    UniWizardError,
)
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
