"""What every fleet package shares.

Pure modules (no rclpy): :mod:`fleet_common.events` (the event log's vocabulary),
:mod:`fleet_common.timeconv` (epoch seconds and ISO-8601). ROS helpers live in
:mod:`fleet_common.ros` and import rclpy.
"""
