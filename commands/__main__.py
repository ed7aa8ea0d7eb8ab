"""`python -m commands ...` is the `queuelabs` command."""

from commands.main import main

main()
