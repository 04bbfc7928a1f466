"""Katib's ENAS trial-image entry point (`python3 -u RunTrial.py --architecture=...
--nn_config=... --num_epochs=N`), run by hpo-gen's trainers: `python -m trainers.nas enas`
with the same arguments. The trainers image's working directory holds this file, so Katib's
ENAS examples run unchanged once their image is overridden with the trainers image."""

import sys

from trainers.nas import main

if __name__ == "__main__":
    sys.exit(main(["enas", *sys.argv[1:]]))
