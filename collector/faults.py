"""Compatibility path of :mod:`edgedrift.faults` (the one fault-injection module); import
``fault_point`` from there. Kept for one release."""

from edgedrift.faults import ENV_VAR, fault_point, parse_faults

__all__ = ["ENV_VAR", "fault_point", "parse_faults"]
