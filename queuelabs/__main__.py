from queuelabs.cli import main

main()
