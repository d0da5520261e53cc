"""Lint and type checking as part of the test run.

ruff (settings in ``ruff.toml``) over src/, tests/, bench/ and scripts/, and mypy (settings in
``mypy.ini``) over the six Python packages' sources, each run as the developer would run it
from the repository root, in this session's environment (scripts/env.sh: rclpy and the
generated message packages importable). A finding fails the test and shows the tool's output.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
TIMEOUT_S = 240.0  # mypy with a cold cache takes ~10 s here; its cache is .mypy_cache/
LINTED_DIRS = ('src', 'tests', 'bench', 'scripts')
PACKAGES = ('fleet_common', 'fleet_manager', 'fleet_agent', 'fleet_web', 'fleet_sim',
            'fleet_cli')


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m <args>`` in the repository root; return the finished process."""
    return subprocess.run([sys.executable, '-m', *args], cwd=REPO, env=dict(os.environ),
                          capture_output=True, text=True, timeout=TIMEOUT_S)


def report(proc: subprocess.CompletedProcess[str]) -> str:
    """Return the command, its exit code and its output, for an assertion message."""
    return (f'`{" ".join(proc.args[2:])}` exited with {proc.returncode}\n'
            f'{proc.stdout}{proc.stderr}')


def test_ruff_finds_nothing() -> None:
    # The files ruff looks at: every linted directory, nothing of the build or the venv.
    files = run_tool('ruff', 'check', '--no-cache', '--show-files', '.')
    assert files.returncode == 0, report(files)
    listed = {pathlib.Path(line.strip()).resolve().relative_to(REPO).parts[0]
              for line in files.stdout.splitlines() if line.strip().endswith('.py')}
    assert set(LINTED_DIRS) <= listed, f'ruff does not see {set(LINTED_DIRS) - listed}'
    assert not listed & {'build', 'install', 'log', '.venv'}, sorted(listed)

    proc = run_tool('ruff', 'check', '--no-cache', '.')
    assert proc.returncode == 0, report(proc)


def test_mypy_finds_nothing() -> None:
    proc = run_tool('mypy')
    assert proc.returncode == 0, report(proc)
    # It checked every module of the packages (mypy.ini names them), not a few files.
    modules = sum(1 for pkg in PACKAGES for _ in (REPO / 'src' / pkg / pkg).rglob('*.py'))
    checked = re.search(r'no issues found in (\d+) source files', proc.stdout)
    assert checked and int(checked.group(1)) >= modules, (
        f'expected at least {modules} source files checked\n{report(proc)}')
