import sys

from gru_props.cli import main

sys.exit(main())
