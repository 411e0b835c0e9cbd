import sys

from nvrd.cli import main

sys.exit(main())
