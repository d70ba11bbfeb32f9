import sys

from cae_keras.cli import main

sys.exit(main(prog="python -m cae_keras"))
