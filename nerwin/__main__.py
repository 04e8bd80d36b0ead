from nerwin.command import main

main()
