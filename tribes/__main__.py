from tribes.cli.main import main

main()
