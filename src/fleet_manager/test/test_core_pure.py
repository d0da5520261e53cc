"""The plain-Python modules must stay free of ROS: importing them must not import rclpy.

The manager's domain core (every module of ``fleet_manager.core``) and the modules named
below of the manager, ``fleet_common`` and ``fleet_agent`` are imported in a fresh
interpreter, one after the other; after each import ``sys.modules`` must hold no rclpy (nor
rcl_interfaces, which only rclpy-level code needs). A module that pulls rclpy in is named,
with the ROS packages its import brought in.

Not listed, on purpose: ``fleet_common.params`` and ``fleet_common.ros`` (rclpy by design),
``fleet_common.paths`` (ament_index), ``fleet_agent.health`` (diagnostic_msgs, and
``diagnostic_updater``, hence rclpy, on a full ROS 2 install) and the agent's and manager's
node-side modules.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

CORE = pathlib.Path(__file__).resolve().parents[1] / 'fleet_manager' / 'core'
ROS_ROOTS = ('rclpy', 'rcl_interfaces')

MANAGER_PURE = ('fleet_manager.incident_context', 'fleet_manager.incident_flow',
                'fleet_manager.pipeline', 'fleet_manager.features',
                'fleet_manager.desired_flow', 'fleet_manager.rollout_flow')
COMMON_PURE = ('fleet_common.events', 'fleet_common.timeconv', 'fleet_common.config',
               'fleet_common.timeofday', 'fleet_common.param_digest')
AGENT_PURE = ('fleet_agent.core', 'fleet_agent.watch_logic', 'fleet_agent.outbox',
              'fleet_agent.config_logic')

_PROBE = '''
import importlib, sys
roots = {roots!r}
bad = []
for name in {modules!r}:
    before = set(sys.modules)
    importlib.import_module(name)
    ros = sorted({{m.split('.')[0] for m in set(sys.modules) - before}} & set(roots))
    if ros:
        bad.append(f'{{name}} imports {{", ".join(ros)}}')
print('\\n'.join(bad))
sys.exit(1 if bad else 0)
'''


def ros_importers(modules: tuple[str, ...] | list[str]) -> list[str]:
    """Import ``modules`` in order in a fresh interpreter; return one line per module whose
    import brought rclpy (or rcl_interfaces) into ``sys.modules``."""
    code = _PROBE.format(roots=ROS_ROOTS, modules=tuple(modules))
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr  # not an ImportError
    return proc.stdout.split('\n')[:-1] if proc.returncode else []


def test_core_modules_do_not_import_rclpy() -> None:
    modules = sorted(p.stem for p in CORE.glob('*.py') if p.stem != '__init__')
    assert 'missions' in modules and 'registry' in modules
    assert ros_importers([f'fleet_manager.core.{m}' for m in modules]) == []


def test_manager_plain_modules_do_not_import_rclpy() -> None:
    assert ros_importers(MANAGER_PURE) == []


def test_common_plain_modules_do_not_import_rclpy() -> None:
    assert ros_importers(COMMON_PURE) == []


def test_agent_plain_modules_do_not_import_rclpy() -> None:
    assert ros_importers(AGENT_PURE) == []


def test_the_check_sees_an_rclpy_import() -> None:
    # fleet_common.ros imports rclpy: the probe names it, and only it (not the modules
    # imported after it, which bring in nothing new).
    assert ros_importers(('fleet_common.timeconv', 'fleet_common.ros',
                          'fleet_common.events')) == [
        'fleet_common.ros imports rcl_interfaces, rclpy']
