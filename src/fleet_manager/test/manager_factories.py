"""Small builders for manager unit tests."""

from __future__ import annotations

from fleet_manager.core.config import Area, FleetConfig, RobotSpec
from fleet_manager.core.missions import MissionRequest, Waypoint
from fleet_manager.core.model import Connectivity, Mode, Pose, RobotRecord, StatusReport
from fleet_manager.core.model import Pose as P


def make_fleet(n: int = 3, caps: tuple[str, ...] = ('tote',)) -> FleetConfig:
    robots = {f'r{i}': RobotSpec(f'r{i}', caps, 'floor', f'd{i}') for i in range(1, n + 1)}
    docks = {f'd{i}': P(float(i), 0.0) for i in range(1, n + 1)}
    return FleetConfig(site='t', robots=robots, default_capabilities=caps,
                       areas=(Area('aisle', 0, 0, 10, 10),), docks=docks)


def make_status(robot_id: str = 'r1', seq: int = 1, x: float = 0.0, y: float = 0.0,
                battery: float | None = 0.9, mode: Mode = Mode.IDLE,
                mission: str = '', period: float = 1.0) -> StatusReport:
    return StatusReport(robot_id=robot_id, seq=seq, stamp=0.0, software_version='1.0',
                        mode=mode, battery=battery, pose=Pose(x, y, 0.0),
                        current_mission_id=mission, report_period=period)


def make_robot(robot_id: str, x: float = 0.0, y: float = 0.0, battery: float = 0.9,
               caps: tuple[str, ...] = ('tote',), mode: Mode = Mode.IDLE,
               connectivity: Connectivity = Connectivity.ONLINE, dock: str = '',
               mission: str = '', attempt: int = 1) -> RobotRecord:
    return RobotRecord(robot_id=robot_id, connectivity=connectivity, mode=mode,
                       battery=battery, pose=Pose(x, y), capabilities=caps, dock=dock,
                       current_mission_id=mission, current_attempt=attempt if mission else 0)


def make_request(x: float = 5.0, y: float = 5.0, **kw: object) -> MissionRequest:
    return MissionRequest(waypoints=(Waypoint(x, y),), **kw)  # type: ignore[arg-type]
