"""`python -m journey_stitcher` runs the command line."""

from journey_stitcher.cli import main

main()
