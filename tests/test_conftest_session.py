"""The root conftest.py in a pytest session of its own: it keeps the caller's ROS_DOMAIN_ID,
and removes the session's ROS_HOME when the session ends (nothing left in $TMPDIR)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

from fleet_testing import REPO, fleet_env

PROBE = """
import os, pathlib, sys

def test_probe():
    # ROS_HOME is the test's own here; the session's is what processes of module-scoped
    # fixtures write to.
    home = pathlib.Path(sys.modules['conftest'].SESSION_ROS_HOME)
    (home / 'written-by-a-test').write_text('x')
    pathlib.Path(os.environ['PROBE_OUT']).write_text(
        os.environ['ROS_DOMAIN_ID'] + '\\n' + str(home))
"""


def run_session(tmp_path: pathlib.Path, **env: str) -> tuple[str, pathlib.Path]:
    """Run PROBE under the root conftest; return the domain it saw and its session ROS_HOME."""
    (tmp_path / 'test_probe.py').write_text(PROBE)
    out = tmp_path / 'probe.out'
    base = {k: v for k, v in fleet_env(PROBE_OUT=str(out), PYTHONPATH=str(REPO)).items()
            if k not in ('ROS_DOMAIN_ID', 'FLEET_TEST_DOMAIN_ID')
            and not k.startswith('PYTEST_XDIST')}  # the probe's session is not a worker
    done = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'conftest', '-p', 'no:cacheprovider',
         '-c', '/dev/null', '--rootdir', str(tmp_path), str(tmp_path / 'test_probe.py')],
        env={**base, **env}, cwd=str(tmp_path), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    domain, home = out.read_text().splitlines()
    return domain, pathlib.Path(home)


def test_callers_domain_is_kept_and_session_ros_home_removed(tmp_path: pathlib.Path) -> None:
    domain, home = run_session(tmp_path, ROS_DOMAIN_ID='42')
    assert domain == '42'
    assert home.name.startswith('fleet-test-ros-home-'), home
    assert not home.exists(), f'{home} left behind'


def test_a_domain_is_picked_when_none_is_given(tmp_path: pathlib.Path) -> None:
    domain, _ = run_session(tmp_path)
    assert 1 <= int(domain) <= 100
