"""Simulated robots speaking the Nav2 interfaces, with fault injection, for the demo, tests and
benchmarks.
"""
