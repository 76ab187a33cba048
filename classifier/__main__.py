"""Run the classifier command-line interface: ``python -m classifier --help``."""

import sys

from classifier.cli import main

sys.exit(main())
