"""The robot registry: who is in the fleet and whether the manager hears from them.

Connectivity follows the reports: ``online`` on every accepted status, ``stale`` after
``stale_after_periods`` report periods without one and ``offline`` after
``offline_after_periods``. Every change becomes a ``robot.connectivity`` event. Time is
passed in by the caller, so the timeouts are tested without sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
import enum
import math
from typing import Iterable

from fleet_common.events import EventKind, RobotConnectivity, RobotRegistered, RobotService
from fleet_common.naming import natural_key
from fleet_manager.core.config import FleetConfig
from fleet_manager.core.errors import NotFound
from fleet_manager.core.model import Connectivity, NewEvent, RobotRecord, StatusReport

CONNECTIVITY_EVENT = EventKind.ROBOT_CONNECTIVITY.value
SERVICE_EVENT = EventKind.ROBOT_SERVICE.value
REGISTERED_EVENT = EventKind.ROBOT_REGISTERED.value


class Rejection(str, enum.Enum):
    """Why a status report was dropped."""

    EMPTY_ROBOT_ID = 'empty_robot_id'
    """The report names no robot."""
    NON_FINITE_POSE = 'non_finite_pose'
    """The pose holds NaN or infinity."""
    BAD_BATTERY = 'bad_battery'
    """The battery is outside 0..1 (NaN means unknown and is accepted)."""
    UNKNOWN_ROBOT = 'unknown_robot'
    """The robot is not in the fleet and unknown robots are not accepted."""


@dataclass(frozen=True)
class RegistrySettings:
    """Connectivity timeouts, in report periods, and the default report period (s)."""

    report_period: float = 1.0
    stale_after_periods: float = 3.0
    offline_after_periods: float = 10.0
    accept_unknown_robots: bool = True


@dataclass
class IngestResult:
    """What happened to one status report."""

    accepted: bool
    rejection: Rejection | None = None
    events: list[NewEvent] = field(default_factory=list)
    record: RobotRecord | None = None
    changed: bool = False
    """The record changed in a way worth saving: mode, mission, version, diagnostics, the
    battery by 1 % or the pose by 10 cm (a robot standing still needs no write)."""


class Registry:
    """In-memory registry; the caller persists the records and events it returns."""

    def __init__(self, fleet: FleetConfig, settings: RegistrySettings) -> None:
        self._fleet = fleet
        self._settings = settings
        self._robots: dict[str, RobotRecord] = {}
        self._order: list[str] | None = None
        """Robot ids in natural order, robot2 before robot10 (rebuilt when one is added)."""
        self.rejections: dict[Rejection, int] = {r: 0 for r in Rejection}
        for robot_id in fleet.robots:
            self._robots[robot_id] = self._new_record(robot_id)

    def _new_record(self, robot_id: str) -> RobotRecord:
        spec = self._fleet.spec_for(robot_id)
        return RobotRecord(robot_id=robot_id, capabilities=spec.capabilities,
                           group=spec.group, dock=spec.dock)

    # -- reading -------------------------------------------------------------------------
    def get(self, robot_id: str) -> RobotRecord:
        """Return the robot's record; raise NotFound for an unknown id."""
        try:
            return self._robots[robot_id]
        except KeyError:
            raise NotFound(f'unknown robot {robot_id!r}') from None

    def find(self, robot_id: str) -> RobotRecord | None:
        """Return the robot's record, or None for an unknown id."""
        return self._robots.get(robot_id)

    def records(self) -> list[RobotRecord]:
        """Return every record, in the natural order of robot ids (robot2 before robot10)."""
        if self._order is None or len(self._order) != len(self._robots):
            self._order = sorted(self._robots, key=natural_key)
        robots = self._robots
        return [robots[k] for k in self._order]

    def __contains__(self, robot_id: object) -> bool:
        return robot_id in self._robots

    def counts(self) -> dict[str, int]:
        """Return robot counts by connectivity, plus ``total`` and ``decommissioned``."""
        out = {c.value: 0 for c in Connectivity}
        for rec in self._robots.values():
            out[rec.connectivity.value] += 1
        out['total'] = len(self._robots)
        out['decommissioned'] = sum(1 for r in self._robots.values() if r.decommissioned)
        return out

    # -- restoring -----------------------------------------------------------------------
    def restore(self, records: Iterable[RobotRecord], now: float, grace: float = 0.0) -> None:
        """Load persisted records (after a restart).

        The timeouts restart ``grace`` seconds after ``now`` (time for DDS discovery): a
        robot that is still alive reports by then, and one that is not goes stale and
        offline on the normal schedule after it. Capabilities, group and dock come from the
        current fleet definition.
        """
        for rec in records:
            spec = self._fleet.spec_for(rec.robot_id)
            if rec.robot_id not in self._fleet.robots and not self._settings.accept_unknown_robots:
                continue
            self._robots[rec.robot_id] = replace(
                rec, capabilities=spec.capabilities, group=spec.group, dock=spec.dock,
                heard_at=now + grace if rec.connectivity != Connectivity.OFFLINE
                else rec.heard_at)

    # -- ingest --------------------------------------------------------------------------
    def ingest(self, report: StatusReport, now: float) -> IngestResult:
        """Apply one status report received at ``now``; never raises on bad content.

        Statuses are snapshots: the latest one received wins. They are not de-duplicated by
        sequence number, so no single status (a replay, a forged maximal seq) can make the
        registry ignore the robot's later ones.
        """
        rec = self._robots.get(report.robot_id)
        if rec is not None and rec.connectivity is Connectivity.ONLINE:
            last = rec.report
            # The common case at scale: the same status again (only seq and stamp differ).
            # It was checked when first applied and changes nothing but the times.
            if last is not None and report[3:] == last[3:]:
                rec.report = report
                rec.last_seq = report.seq
                rec.last_seen = rec.heard_at = now
                return IngestResult(True, None, [], rec, False)
        rejection = self._check(report)
        if rejection is not None:
            self.rejections[rejection] += 1
            return IngestResult(False, rejection)
        events: list[NewEvent] = []
        if rec is None:
            rec, registered = self.register(report.robot_id)
            events.extend(registered)
        pose = report.pose
        battery = report.battery
        key = (report.mode, None if battery is None else round(battery, 2), round(pose.x, 1),
               round(pose.y, 1), report.current_mission_id, report.software_version,
               report.diagnostics_level)
        changed = key != rec.saved_key
        rec.saved_key = key
        rec.last_seq = report.seq
        rec.mode = report.mode
        rec.battery = report.battery
        rec.pose = report.pose
        rec.software_version = report.software_version
        rec.current_mission_id = report.current_mission_id
        rec.current_attempt = report.current_attempt
        rec.diagnostics_level = report.diagnostics_level
        rec.epoch = report.epoch
        rec.event_seq = report.event_seq
        rec.mission_progress = report.mission_progress
        rec.distance_remaining = report.distance_remaining
        rec.mission_recoveries = report.number_of_recoveries
        if report.report_period > 0:
            rec.report_period = report.report_period
        rec.last_seen = now
        rec.heard_at = now
        rec.report = report
        if rec.connectivity != Connectivity.ONLINE:
            events.append(self._transition(rec, Connectivity.ONLINE, 'status received'))
        return IngestResult(True, None, events, rec, changed)

    def register(self, robot_id: str) -> tuple[RobotRecord, list[NewEvent]]:
        """Return the robot's record, adding it (and its ``robot.registered`` event) when it
        is new. The caller checks ``accepts`` first for robots not in the fleet definition."""
        rec = self._robots.get(robot_id)
        if rec is not None:
            return rec, []
        rec = self._new_record(robot_id)
        self._robots[robot_id] = rec
        return rec, [NewEvent.of(RobotRegistered(list(rec.capabilities)), robot_id)]

    def accepts(self, robot_id: str) -> bool:
        """True when reports of ``robot_id`` are taken (listed, or unknown ones allowed)."""
        return bool(robot_id.strip()) and (
            robot_id in self._robots or self._settings.accept_unknown_robots)

    def _check(self, report: StatusReport) -> Rejection | None:
        if not report.robot_id or not report.robot_id.strip():
            return Rejection.EMPTY_ROBOT_ID
        if not report.pose.is_finite():
            return Rejection.NON_FINITE_POSE
        b = report.battery
        if b is not None and (math.isinf(b) or b < 0.0 or b > 1.0):
            return Rejection.BAD_BATTERY
        if report.robot_id not in self._robots and not self._settings.accept_unknown_robots:
            return Rejection.UNKNOWN_ROBOT
        return None

    # -- time ----------------------------------------------------------------------------
    def period_of(self, rec: RobotRecord) -> float:
        """Return the report period (s) used for the robot's timeouts."""
        return rec.report_period if rec.report_period > 0 else self._settings.report_period

    def heard(self, arrivals: Iterable[tuple[str, float]]) -> None:
        """Note statuses that arrived and wait to be applied (robot id, arrival time): a
        robot whose status waits in a backlog is not timed out. Its connectivity changes
        only when the status is applied."""
        robots = self._robots
        for robot_id, at in arrivals:
            rec = robots.get(robot_id)
            if rec is not None and rec.heard_at is not None and at > rec.heard_at:
                rec.heard_at = at

    def tick(self, now: float) -> list[NewEvent]:
        """Apply the timeouts at ``now``; return the connectivity events (by robot id)."""
        events = []
        stale_n = self._settings.stale_after_periods
        offline_n = self._settings.offline_after_periods
        default = self._settings.report_period
        online, offline = Connectivity.ONLINE, Connectivity.OFFLINE
        for rec in self._robots.values():  # called often for the whole fleet: kept lean
            heard = rec.heard_at
            if heard is None or rec.connectivity is offline:
                continue
            age = now - heard
            period = rec.report_period if rec.report_period > 0 else default
            if age >= offline_n * period:
                events.append(self._transition(
                    rec, offline, f'no status for {age:.1f} s ({offline_n:g} periods)'))
            elif age >= stale_n * period and rec.connectivity is online:
                events.append(self._transition(
                    rec, Connectivity.STALE,
                    f'no status for {age:.1f} s ({stale_n:g} periods)'))
        events.sort(key=lambda e: e.robot_id)
        return events

    def _transition(self, rec: RobotRecord, new: Connectivity, reason: str) -> NewEvent:
        old = rec.connectivity
        rec.connectivity = new
        return NewEvent.of(RobotConnectivity(old.value, new.value, reason), rec.robot_id)

    # -- maintenance ---------------------------------------------------------------------
    def set_in_service(self, robot_id: str, in_service: bool, reason: str,
                       who: str = '') -> list[NewEvent]:
        """Decommission (``in_service=False``) or recommission a robot; NotFound if unknown."""
        rec = self.get(robot_id)
        if rec.decommissioned == (not in_service):
            return []
        rec.decommissioned = not in_service
        return [NewEvent.of(RobotService(in_service, reason, who), robot_id)]
