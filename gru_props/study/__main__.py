"""``python -m gru_props.study``: the same as ``gru-props study``."""

import sys

from gru_props.study.cli import main

sys.exit(main(sys.argv[1:]))
