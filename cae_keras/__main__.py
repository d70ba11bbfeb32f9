import sys

from cae_keras.cli import main

sys.exit(main())
