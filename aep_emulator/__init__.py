"""A local Adobe Experience Platform: IMS token endpoint and Flow Service, over real HTTP.

It imports nothing from the hook or the operators, so it judges them honestly. Start it with
``aep-emulator`` or ``python -m aep_emulator``; in tests use
``aep_emulator.server.running_emulator``. Its own distribution (``aep-emulator``), built from
this folder, needs neither Airflow nor the provider.
"""

__version__ = "0.1.0"
