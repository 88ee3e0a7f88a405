import sys

from ios_core.cli.main import main

sys.exit(main())
