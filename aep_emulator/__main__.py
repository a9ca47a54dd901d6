from aep_emulator.cli import main

main()
