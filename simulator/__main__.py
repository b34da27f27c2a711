"""`python -m simulator ...`: the device lab's command line."""

from simulator.cli import main

raise SystemExit(main())
