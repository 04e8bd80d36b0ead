"""`python -m nerwin`: the command's entry point."""
from nerwin.command import main

main()
