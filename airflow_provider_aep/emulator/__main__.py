from airflow_provider_aep.emulator.cli import main

main()
