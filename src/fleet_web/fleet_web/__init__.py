"""The HTTP bridge to business systems and the operator dashboard (aiohttp), talking to the
manager over ROS.
"""
