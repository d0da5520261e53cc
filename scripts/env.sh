# Source this file to get the suite's environment in a shell:  . scripts/env.sh
# It picks the ROS 2 that scripts/setup.sh chose (a system install under /opt/ros or the
# PyPI wheels in .venv), activates .venv, sources the workspace's install/ and keeps DDS
# discovery on this machine unless ROS_AUTOMATIC_DISCOVERY_RANGE is already set.

FLEET_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FLEET_VENV="${FLEET_VENV:-$FLEET_ROOT/.venv}"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"

if [ -f "$FLEET_VENV/fleet-ros-setup" ]; then
  _fleet_ros_setup="$(cat "$FLEET_VENV/fleet-ros-setup")"
  if [ -n "$_fleet_ros_setup" ] && [ -z "${ROS_DISTRO:-}" ]; then
    # shellcheck disable=SC1090
    . "$_fleet_ros_setup"
  fi
  unset _fleet_ros_setup
fi

if [ -f "$FLEET_VENV/bin/activate" ]; then
  # shellcheck disable=SC1091
  . "$FLEET_VENV/bin/activate"
fi

if [ -f "$FLEET_VENV/fleet-ros-wheels" ]; then
  # The wheels make the virtual environment itself the ament prefix.
  export AMENT_PREFIX_PATH="$FLEET_VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
  export CMAKE_PREFIX_PATH="$FLEET_VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
fi

if [ -f "$FLEET_ROOT/install/setup.bash" ]; then
  # shellcheck disable=SC1091
  . "$FLEET_ROOT/install/setup.bash"
fi
