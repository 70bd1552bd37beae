from liftoff.cli import main

main()
