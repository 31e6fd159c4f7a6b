import sys

from relulab.cli import main

sys.exit(main())
