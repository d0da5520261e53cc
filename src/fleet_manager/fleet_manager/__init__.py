"""The fleet manager: a lifecycle node that owns the registry, missions, incidents and the
event log.
"""
