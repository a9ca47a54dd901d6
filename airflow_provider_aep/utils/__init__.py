"""Pure helpers shared by the hook, the operators and the sensor: no I/O, cheap to import."""
