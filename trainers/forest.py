"""A scikit-learn random forest, tuned by hpo-gen's forest experiments: k-fold
cross-validated accuracy on one of scikit-learn's bundled data sets or a generated one.
Prints one Katib StdOut line: `accuracy=0.9612 accuracy-std=0.0123 fit-seconds=0.84`.

    python -m trainers.forest --n-estimators=100 --max-depth=10 --dataset=digits
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from trainers.reporting import print_metrics

DATASETS = ("digits", "wine", "breast_cancer", "iris", "synthetic")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m trainers.forest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--n-estimators", type=int, default=100, help="trees in the forest")
    parser.add_argument("--max-depth", type=int, default=0, help="tree depth limit (0: none)")
    parser.add_argument("--min-samples-split", type=int, default=2)
    parser.add_argument("--min-samples-leaf", type=int, default=1)
    parser.add_argument(
        "--max-features", default="sqrt", help="sqrt, log2, all, or a fraction of features"
    )
    parser.add_argument("--criterion", choices=["gini", "entropy", "log_loss"], default="gini")
    parser.add_argument("--bootstrap", choices=["true", "false"], default="true")
    parser.add_argument("--dataset", choices=DATASETS, default="digits")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="parallel tree builders")
    args = parser.parse_args(argv)
    if args.n_estimators < 1 or args.max_depth < 0 or args.min_samples_leaf < 1:
        parser.error("--n-estimators and --min-samples-leaf must be >= 1, --max-depth >= 0")
    if args.min_samples_split < 2 or args.folds < 2 or args.jobs < 1:
        parser.error("--min-samples-split and --folds must be >= 2, --jobs >= 1")
    try:
        args.max_features = _max_features(args.max_features)
    except ValueError as err:
        parser.error(str(err))
    return args


def _max_features(text: str) -> Any:
    if text in ("sqrt", "log2"):
        return text
    if text == "all":
        return None
    value = float(text)  # ValueError for anything else
    if not 0 < value <= 1:
        raise ValueError(f"--max-features fraction must be in (0, 1], got {text}")
    return value


def load(name: str, seed: int) -> tuple[Any, Any]:
    from sklearn import datasets

    if name == "synthetic":
        features, target = datasets.make_classification(
            n_samples=1500, n_features=20, n_informative=8, n_classes=3, random_state=seed
        )
    else:
        features, target = getattr(datasets, f"load_{name}")(return_X_y=True)
    return features, target


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    features, target = load(args.dataset, args.seed)
    forest = RandomForestClassifier(
        n_estimators=args.n_estimators,
        max_depth=args.max_depth or None,
        min_samples_split=args.min_samples_split,
        min_samples_leaf=args.min_samples_leaf,
        max_features=args.max_features,
        criterion=args.criterion,
        bootstrap=args.bootstrap == "true",
        random_state=args.seed,
        n_jobs=args.jobs,
    )
    folds = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
    started = time.perf_counter()
    scores = cross_val_score(forest, features, target, cv=folds, scoring="accuracy")
    elapsed = time.perf_counter() - started
    print_metrics(
        accuracy=float(scores.mean()),
        **{"accuracy-std": float(scores.std())},
        **{"fit-seconds": elapsed},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
