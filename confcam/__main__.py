import sys

from confcam.cli import main

sys.exit(main())
