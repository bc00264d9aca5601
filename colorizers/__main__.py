import sys

from colorizers.commands.main import main

sys.exit(main())
