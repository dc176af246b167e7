from tsync.cli import main

main()
