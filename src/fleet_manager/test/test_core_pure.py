"""The domain core must stay free of ROS: importing it must not import rclpy."""

import pathlib
import subprocess
import sys

CORE = pathlib.Path(__file__).resolve().parents[1] / 'fleet_manager' / 'core'


def test_core_modules_do_not_import_rclpy() -> None:
    modules = sorted(p.stem for p in CORE.glob('*.py') if p.stem != '__init__')
    assert 'missions' in modules and 'registry' in modules
    code = ('import sys\n'
            + ''.join(f'import fleet_manager.core.{m}\n' for m in modules)
            + 'bad = [m for m in sys.modules if m.split(".")[0] in ("rclpy", "rcl_interfaces")]\n'
            + 'print(bad); sys.exit(1 if bad else 0)\n')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
