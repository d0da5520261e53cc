"""Session-wide test settings: DDS on loopback, and a ROS domain of this session's own."""

import os

# Every process a test starts inherits these; set before rclpy is imported anywhere.
os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
if 'FLEET_TEST_DOMAIN_ID' in os.environ:
    os.environ['ROS_DOMAIN_ID'] = os.environ['FLEET_TEST_DOMAIN_ID']
else:
    # 1..100 keeps within the port range DDS maps for a domain; the pid spreads sessions.
    os.environ['ROS_DOMAIN_ID'] = str(1 + os.getpid() % 100)
