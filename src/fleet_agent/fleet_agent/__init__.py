"""One per robot: adapts the robot's Nav2, odometry, battery and diagnostics to the fleet
interfaces.
"""
