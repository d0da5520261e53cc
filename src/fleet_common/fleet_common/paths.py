"""Where the shipped configuration is: fleet_bringup's share directory once installed, the
source tree's ``src/fleet_bringup/config`` when running from a checkout."""

from __future__ import annotations

import os

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

BRINGUP = 'fleet_bringup'


def config_dir() -> str:
    """Return the directory of the shipped configuration files."""
    try:
        return os.path.join(get_package_share_directory(BRINGUP), 'config')
    except PackageNotFoundError:
        here = os.path.dirname(os.path.abspath(__file__))
        return os.path.normpath(os.path.join(here, '..', '..', BRINGUP, 'config'))


def config_file(name: str) -> str:
    """Return the path of the shipped configuration file ``name`` (e.g. ``fleet.yaml``)."""
    return os.path.join(config_dir(), name)
