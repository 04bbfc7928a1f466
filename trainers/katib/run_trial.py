"""Katib's DARTS trial-image entry point (`python3 run_trial.py --algorithm-settings=...
--search-space=... --num-layers=N`), run by hpo-gen's trainers: `python -m trainers.nas
darts` with the same arguments. The trainers image's working directory holds this file, so
Katib's DARTS examples run unchanged once their image is overridden with the trainers
image."""

import sys

from trainers.nas import main

if __name__ == "__main__":
    sys.exit(main(["darts", *sys.argv[1:]]))
