"""Runs the real linode-cli binary against the berth that scripts/with-berth started.

The berth comes from BERTH_URL (http://127.0.0.1:PORT) and BERTH_TOKEN. The CLI gets an empty
home and config directory of its own, so no user configuration leaks in, and only the
LINODE_CLI_* variables set here.
"""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest


@dataclass
class CliResult:
    """One linode-cli run: its arguments, exit code and output."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        return (
            f"linode-cli {' '.join(self.args)}\n"
            f"exit code: {self.returncode}\n"
            f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        )

    def json(self):
        """The `--json` output: a list of objects."""
        try:
            return json.loads(self.stdout)
        except json.JSONDecodeError as error:
            raise AssertionError(f"not JSON ({error}):\n{self.describe()}") from None

    def errors(self) -> list[dict]:
        """The error list that `--json` prints on stderr after "Request failed: CODE"."""
        for line in self.stderr.splitlines():
            if line.startswith("["):
                return json.loads(line)
        raise AssertionError(f"no JSON error list on stderr:\n{self.describe()}")


class Cli:
    """Runs `linode-cli` from the same environment as this Python, pointed at berth."""

    def __init__(self, executable: str, environment: dict[str, str]):
        self.executable = executable
        self.environment = environment

    def run(self, *args: str, token: str | None = None) -> CliResult:
        environment = dict(self.environment)
        if token is not None:
            environment["LINODE_CLI_TOKEN"] = token
        completed = subprocess.run(
            [self.executable, *args],
            env=environment,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return CliResult(list(args), completed.returncode, completed.stdout, completed.stderr)

    def ok(self, *args: str) -> CliResult:
        """Runs and requires exit code 0."""
        result = self.run(*args)
        assert result.returncode == 0, f"expected success:\n{result.describe()}"
        return result

    def ok_json(self, *args: str):
        """Runs with `--json`, requires exit code 0 and returns the one object printed."""
        result = self.ok(*args, "--json")
        objects = result.json()
        assert isinstance(objects, list) and len(objects) == 1, f"expected one object:\n{result.describe()}"
        return objects[0]


def linode_cli_executable() -> str:
    beside_python = Path(sys.executable).parent / "linode-cli"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("linode-cli")
    if found is None:
        pytest.fail("linode-cli is not installed beside this Python; run scripts/test")
    return found


@pytest.fixture(scope="session")
def berth() -> dict[str, str]:
    url = os.environ.get("BERTH_URL")
    token = os.environ.get("BERTH_TOKEN")
    if not url or not token:
        pytest.fail("BERTH_URL and BERTH_TOKEN must be set: run this through scripts/with-berth or scripts/test")
    parts = urlsplit(url)
    return {"scheme": parts.scheme, "host": parts.netloc, "token": token}


@pytest.fixture(scope="session")
def cli(berth, tmp_path_factory) -> Cli:
    home = tmp_path_factory.mktemp("linode-cli-home")
    config_home = home / ".config"
    config_home.mkdir()
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("LINODE_") and name not in ("HOME", "XDG_CONFIG_HOME")
    }
    environment.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(config_home),
            "LINODE_CLI_CONFIG": str(config_home / "linode-cli"),
            "LINODE_CLI_TOKEN": berth["token"],
            "LINODE_CLI_API_HOST": berth["host"],
            "LINODE_CLI_API_SCHEME": berth["scheme"],
            "LINODE_CLI_API_VERSION": "v4",
            "LINODE_CLI_SUPPRESS_VERSION_WARNING": "1",
            # Tables are as wide as the terminal; without one, rich assumes 80 columns and
            # shortens the headers. Fix the width so the table output is the same everywhere.
            "COLUMNS": "200",
            "LINES": "50",
        }
    )
    return Cli(linode_cli_executable(), environment)
