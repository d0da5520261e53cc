"""A simulated robot as a whole: the simulated base (``SimRobot``) plus its onboard agent.

The agent runs "on the robot", so when the simulator's ``fault`` parameter is ``offline``
the robot drops off the network: its agent's fleet link is cut (nothing sent, nothing
received; its outbox keeps filling and the robot keeps executing) and restored when the
fault is cleared.
"""

from __future__ import annotations

from typing import Any

from rclpy.executors import Executor
from rclpy.parameter import Parameter

from fleet_agent.agent_node import FleetAgent
from fleet_sim.sim_node import SimRobot


class SimulatedRobot:
    """One simulated robot: base + agent, placed at (x, y, theta)."""

    def __init__(self, robot_id: str, x: float = 0.0, y: float = 0.0, theta: float = 0.0,
                 software_version: str = '1.0.0', report_rate: float = 1.0,
                 sim_overrides: dict[str, Any] | None = None, context: Any = None,
                 agent_params: dict[str, Any] | None = None, agent: bool = True) -> None:
        self.robot_id = robot_id
        self.sim = SimRobot(robot_id, x, y, theta, context=context, **(sim_overrides or {}))
        self.agent: FleetAgent | None = None
        if agent:
            self.agent = FleetAgent(robot_id=robot_id, context=context, parameter_overrides=[
                *(Parameter(k, value=v) for k, v in (agent_params or {}).items()),
                Parameter('software_version', value=software_version),
                Parameter('report_rate', value=float(report_rate))])
        self._executor: Executor | None = None
        self.online = True
        self.sim.set_network_hook(self._set_network)

    @property
    def nodes(self) -> list[Any]:
        return [self.sim] + ([self.agent] if self.agent is not None else [])

    def attach(self, executor: Executor) -> None:
        """Add both nodes to ``executor`` (which the offline fault will use)."""
        self._executor = executor
        for n in self.nodes:
            executor.add_node(n)

    def _set_network(self, up: bool) -> None:
        self.online = up
        if self.agent is not None:
            self.agent.link.connected = up

    def detach(self) -> None:
        """Take both nodes out of the executor and destroy them (the sim ends its goals)."""
        if self._executor is not None:
            for n in self.nodes:
                self._executor.remove_node(n)
            self._executor = None
        self.destroy()

    def destroy(self) -> None:
        for n in self.nodes:
            n.destroy_node()
