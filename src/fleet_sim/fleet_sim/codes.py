"""Result codes the simulated servers report, with the values Nav2's own servers use.

Navigation aborts carry the code of the Nav2 server that failed, as the navigators pass it
through; behavior results carry nav2_msgs' own constants.
"""

from nav2_msgs.action import AssistedTeleop, BackUp, DriveOnHeading, Spin, Wait

#: No error (also used when a goal is preempted by a newer one, as Nav2 does).
NAV_ERROR_NONE = 0
#: FollowPath: the controller made no progress (recoveries exhausted while stuck).
FOLLOW_PATH_FAILED_TO_MAKE_PROGRESS = 105
#: ComputePathToPose / ComputePathThroughPoses: a goal pose lies in an obstacle.
COMPUTE_PATH_GOAL_OCCUPIED = 206
#: ComputePathToPose / ComputePathThroughPoses: the planner found no valid path.
COMPUTE_PATH_NO_VALID_PATH = 208

SPIN_UNKNOWN = Spin.Result.UNKNOWN
SPIN_TIMEOUT = Spin.Result.TIMEOUT
SPIN_COLLISION_AHEAD = Spin.Result.COLLISION_AHEAD
BACKUP_UNKNOWN = BackUp.Result.UNKNOWN
BACKUP_TIMEOUT = BackUp.Result.TIMEOUT
BACKUP_INVALID_INPUT = BackUp.Result.INVALID_INPUT
BACKUP_COLLISION_AHEAD = BackUp.Result.COLLISION_AHEAD
DRIVE_ON_HEADING_UNKNOWN = DriveOnHeading.Result.UNKNOWN
DRIVE_ON_HEADING_TIMEOUT = DriveOnHeading.Result.TIMEOUT
DRIVE_ON_HEADING_COLLISION_AHEAD = DriveOnHeading.Result.COLLISION_AHEAD
DRIVE_ON_HEADING_INVALID_INPUT = DriveOnHeading.Result.INVALID_INPUT
ASSISTED_TELEOP_UNKNOWN = AssistedTeleop.Result.UNKNOWN
ASSISTED_TELEOP_TIMEOUT = AssistedTeleop.Result.TIMEOUT
# Jazzy's Wait.action has no codes; these are the values upstream Nav2 later gave them.
WAIT_UNKNOWN = getattr(Wait.Result, 'UNKNOWN', 740)
WAIT_TIMEOUT = getattr(Wait.Result, 'TIMEOUT', 741)
