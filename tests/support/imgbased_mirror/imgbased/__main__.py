"""`imgbase`, mirroring src/imgbased/__main__.py lines 31-57: log to
stderr (DEBUG with --debug), then CliApplication."""

import logging
import os
import sys

from imgbased import CliApplication

if __name__ == "__main__":
    os.environ.update({"LC_ALL": "C", "LANG": "C"})
    logging.basicConfig(level=logging.DEBUG if "--debug" in sys.argv else logging.INFO,
                        format="%(asctime)s [%(levelname)s] %(name)s: %(message)s")
    CliApplication()
