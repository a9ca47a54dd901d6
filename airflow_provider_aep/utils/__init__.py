"""Helpers shared by the hook, the trigger, the operators and the sensor: no I/O, cheap to import."""
