import sys

from persistrepo.cli import main

sys.exit(main())
