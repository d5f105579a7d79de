import sys

from loadtests.chaos.monkey import main

sys.exit(main())
