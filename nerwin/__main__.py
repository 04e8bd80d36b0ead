from nerwin.cli import main

main()
