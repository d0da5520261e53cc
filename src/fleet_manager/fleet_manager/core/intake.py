"""What the manager does with what robots send: batches of statuses and of robot events.

:class:`Intake` ties the registry, the link book (exactly-once events) and the mission board
together. The node takes messages off the wire cheaply, converts them and hands them over in
batches on its own cadence; each call returns plain data for the commit pipeline:

- :meth:`Intake.statuses`: the latest status of each robot since the last batch. Updates
  the registry, remembers the epoch the status names, reconciles missions (a robot that
  reports not executing the board's mission for it, with every event it wrote committed,
  has lost it), and samples telemetry (one sample per robot per ``telemetry_period``
  bucket).
- :meth:`Intake.events`: robot events in arrival order. Each is applied once, in the
  agent's order (see :mod:`fleet_manager.core.link`): logged as ``robot.event`` with where
  the robot was, and mission outcomes reach the board (fenced by attempt: a late outcome of
  an attempt that was requeued is logged and never applied). The robots' marks and the
  robots to acknowledge come back with the result.

Pure Python: no rclpy; time passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from fleet_common.events import PoseJson, RobotEventLogged, RobotLink
from fleet_manager.core.config import FleetConfig
from fleet_manager.core.link import DROPPED_TYPE, EventKey, LinkBook, Verdict
from fleet_manager.core.missions import MissionBoard, Outcome, Result
from fleet_manager.core.model import NewEvent, RobotEventReport, RobotRecord, StatusReport
from fleet_manager.core.registry import Registry

OPERATOR_COMMANDS = ('pause', 'resume', 'return_to_dock')
"""Commands that count as a human intervention when executed during a mission."""
REJECTION_LOG_PERIOD = 60.0
"""s between ``robot.link`` events about rejected messages of one robot."""


@dataclass
class StatusBatch:
    """What a batch of statuses produced."""

    result: Result = field(default_factory=Result)
    accepted: list[RobotRecord] = field(default_factory=list)
    telemetry: list[dict[str, Any]] = field(default_factory=list)
    robots: set[str] = field(default_factory=set)
    """Robots whose records changed in a way to save now (registration, connectivity)."""
    changed: set[str] = field(default_factory=set)
    """Robots whose records changed in a way worth saving at the next flush."""
    rejected: int = 0


@dataclass
class EventBatch:
    """What a batch of robot events produced."""

    result: Result = field(default_factory=Result)
    marks: dict[str, tuple[int, int]] = field(default_factory=dict)
    acks: set[str] = field(default_factory=set)
    robots: set[str] = field(default_factory=set)
    applied: int = 0


class Intake:
    """Apply robots' statuses and events to the registry, the link book and the board."""

    def __init__(self, fleet: FleetConfig, registry: Registry, link: LinkBook,
                 board: MissionBoard, telemetry_period: float) -> None:
        self._fleet = fleet
        self._registry = registry
        self._link = link
        self._board = board
        self._telemetry_period = telemetry_period
        self._sampled: dict[str, int] = {}
        self._rejection_logged: dict[str, float] = {}
        self._restart_logged: dict[str, float] = {}
        self._rejections: dict[str, int] = {}

    # -- statuses ------------------------------------------------------------------------
    def statuses(self, reports: Iterable[tuple[StatusReport, float]],
                 now: float) -> StatusBatch:
        """Apply the latest status of each robot (one per robot), each with the time it
        arrived (connectivity counts from arrivals, not from when the batch runs)."""
        out = StatusBatch()
        for report, arrived in reports:
            restarted = self._restarted(report)
            if restarted:
                out.result.events.extend(self._log_restart(report, now))
            ingested = self._registry.ingest(report, min(arrived, now))
            if not ingested.accepted or ingested.record is None:
                out.rejected += 1
                continue
            rec = ingested.record
            if ingested.changed:
                out.changed.add(rec.robot_id)
            if ingested.events:
                out.result.events.extend(ingested.events)
                out.robots.add(rec.robot_id)
            self._link.on_status(rec.robot_id, report.epoch, report.acked_seq, now)
            if rec.current_mission_id or self._board.mission_of(rec.robot_id) is not None:
                covered = self._link.covers(rec.robot_id, report.epoch, report.event_seq)
                # A restarted agent never carries on a job of its previous run (it cancels
                # the Nav2 goals that run left): its word that it executes nothing is final.
                out.result.extend(self._board.on_robot_status(rec, covered, now, restarted))
            elif rec.battery is not None and rec.battery < self._board.battery_floor:
                out.result.extend(self._board.check_dock(rec))
            out.accepted.append(rec)
            sample = self._sample(rec, now)
            if sample is not None:
                out.telemetry.append(sample)
        return out

    def _restarted(self, report: StatusReport) -> bool:
        """True when a robot's status numbering starts over: its agent restarted."""
        if report.robot_id not in self._registry:
            return False
        return 0 < report.seq < self._registry.get(report.robot_id).last_seq

    def _log_restart(self, report: StatusReport, now: float) -> list[NewEvent]:
        """A ``robot.link`` event for an agent restart (at most once a minute per robot)."""
        last = self._restart_logged.get(report.robot_id)
        if last is not None and now - last < REJECTION_LOG_PERIOD:
            return []
        self._restart_logged[report.robot_id] = now
        previous = self._registry.get(report.robot_id).last_seq
        return [NewEvent.of(RobotLink(
            change='agent_restart', epoch=report.epoch,
            reason=f'status numbering went from {previous} to {report.seq}: the agent '
                   'restarted'), report.robot_id)]

    def _sample(self, rec: RobotRecord, now: float) -> dict[str, Any] | None:
        # One sample per telemetry period bucket: a status arriving a little early still
        # starts the next bucket, so jitter does not halve the sampling rate.
        bucket = int(now / self._telemetry_period)
        if self._sampled.get(rec.robot_id) == bucket:
            return None
        self._sampled[rec.robot_id] = bucket
        return {'robot_id': rec.robot_id, 'time': now,
                'battery': rec.battery if rec.battery is not None else float('nan'),
                'x': rec.pose.x, 'y': rec.pose.y, 'theta': rec.pose.theta,
                'mode': int(rec.mode), 'diagnostics_level': rec.diagnostics_level,
                'connectivity': rec.connectivity.value}

    # -- events --------------------------------------------------------------------------
    def events(self, reports: Sequence[RobotEventReport], now: float) -> EventBatch:
        """Apply robot events in arrival order, each exactly once."""
        out = EventBatch()
        for rep in reports:
            if not self._registry.accepts(rep.robot_id):
                self._link.counts[Verdict.INVALID] += 1
                continue
            first = _first_seq(rep)
            key = EventKey(rep.robot_id, rep.epoch, rep.seq, first)
            previous = self._link.mark(rep.robot_id)
            verdict = self._link.accept(key, now)
            if verdict.rejected:
                out.result.events.extend(self._rejected(rep, verdict, now))
                out.acks.add(rep.robot_id)
                continue
            out.acks.add(rep.robot_id)
            if not verdict.applies:
                continue
            rec, registered = self._registry.register(rep.robot_id)
            if registered:
                out.result.events.extend(registered)
                out.robots.add(rep.robot_id)
            if verdict == Verdict.NEW_EPOCH and previous.epoch:
                out.result.events.append(NewEvent.of(RobotLink(
                    change='epoch', epoch=rep.epoch, previous_epoch=previous.epoch,
                    last_seq=previous.seq,
                    reason='the agent started a new outbox (its earlier state was lost)'),
                    rep.robot_id))
            out.result.extend(self._apply(rep, rec, now))
            out.marks[rep.robot_id] = (rep.epoch, rep.seq)
            out.applied += 1
        return out

    def _rejected(self, rep: RobotEventReport, verdict: Verdict,
                  now: float) -> list[NewEvent]:
        """Count a rejected event; log a ``robot.link`` event at most once a minute."""
        robot = rep.robot_id
        self._rejections[robot] = self._rejections.get(robot, 0) + 1
        last = self._rejection_logged.get(robot)
        if last is not None and now - last < REJECTION_LOG_PERIOD:
            return []
        self._rejection_logged[robot] = now
        count, self._rejections[robot] = self._rejections[robot], 0
        mark = self._link.mark(robot)
        return [NewEvent.of(RobotLink(
            change='rejected', epoch=rep.epoch, count=count,
            reason=f'{verdict.value}: event ({rep.epoch}, {rep.seq}) against committed '
                   f'({mark.epoch}, {mark.seq})'), robot)]

    def _apply(self, rep: RobotEventReport, rec: RobotRecord, now: float) -> Result:
        """Log one robot event and apply what it means for its mission."""
        mine = self._board.mission_of(rep.robot_id)
        data = rep.data
        intervention = mine is not None and (rep.type == 'safety_stop' or (
            rep.type == 'command' and data.get('command') in OPERATOR_COMMANDS))
        if mine is not None and intervention:
            mine.interventions += 1
        mission_id = str(data.get('mission_id') or (mine.id if mine else ''))
        event = NewEvent.of(RobotEventLogged(
            type=rep.type, severity=rep.severity, message=rep.message, data=dict(data),
            seq=rep.seq, epoch=rep.epoch, stamp=rep.stamp,
            pose=PoseJson(rec.pose.x, rec.pose.y, rec.pose.theta),
            area=self._fleet.area_at(rec.pose.x, rec.pose.y), mission_id=mission_id or None,
            intervention=intervention),
            rep.robot_id, mission_id)
        res = Result([event])
        attempt = _int(data.get('attempt'))
        if rep.type == 'mission.started':
            res.extend(self._board.on_started(mission_id, attempt, rep.robot_id, now))
        elif rep.type == 'mission.refused':
            res.extend(self._board.on_refused(mission_id, attempt, rep.robot_id,
                                              str(data.get('reason', '')), now))
        elif rep.type == 'mission.finished':
            res.extend(self._finished(data, rep.robot_id, rec, now))
        return res

    def _finished(self, data: dict[str, Any], robot_id: str, rec: RobotRecord,
                  now: float) -> Result:
        try:
            outcome = Outcome(data.get('outcome', 'failed'))
        except ValueError:
            outcome = Outcome.FAILED
        detail: dict[str, Any] = {k: data[k] for k in ('error_code', 'nav_error_code')
                                  if isinstance(data.get(k), int)}
        if isinstance(data.get('nav_error_msg'), str):
            detail['nav_error_msg'] = data['nav_error_msg']
        detail['software_version'] = rec.software_version
        return self._board.on_result(str(data.get('mission_id', '')),
                                     _int(data.get('attempt')), robot_id, outcome,
                                     str(data.get('reason', '')), now, detail)

    def rejections(self) -> int:
        """Robot events rejected so far (stale epoch, jump, invalid)."""
        c = self._link.counts
        return c[Verdict.STALE_EPOCH] + c[Verdict.JUMP] + c[Verdict.INVALID]


def _first_seq(rep: RobotEventReport) -> int | None:
    if rep.type != DROPPED_TYPE:
        return None
    first = rep.data.get('first_seq')
    return first if isinstance(first, int) and 0 < first <= rep.seq else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
