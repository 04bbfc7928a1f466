"""Search quality: median best-found regret (best value found minus the known optimum)
after 25 and 50 trials, over seeds, on Branin (2 doubles), Hartmann-6 (6 doubles) and a
mixed space (2 doubles, an int and a categorical), suggesting one trial at a time and in
batches of 3, for every algorithm that models the space. For scale, a measurement of
Katib's best algorithm in batches of 3 (multivariate-tpe): 0.101, 0.284 and 0.0032 after
50 trials on its versions of these problems (measured elsewhere; its mixed space is not
this one).

The baseline measured in the same run is Katib's multivariate-tpe service re-enacted: its
optuna service builds `TPESampler(multivariate=True, constant_liar=True)` with Katib's
defaults (10 startup trials, 24 EI candidates) and the seed, asks `study.ask()` once per
requested trial and tells completed trials (`pkg/suggestion/v1beta1/optuna`); the same
sampler driven that way, on the same problems and seeds ("katib multivariate-tpe").

When hyperopt is installed (`pip install hyperopt`; not a dependency of hpo-gen), a
second baseline re-enacts Katib's tpe service (`pkg/suggestion/v1beta1/hyperopt`):
hyperopt's `tpe.suggest` with `n_startup_jobs` set to the request's size, each further
trial of a request suggested with the same seed from the same trials ("katib tpe").

    python bench/search_quality.py [--seeds 10] [--bo-seeds 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import warnings
from collections.abc import Callable
from multiprocessing import Pool

import optuna

from controller.algorithms.base import Assignments, distributions
from controller.algorithms.registry import ALGORITHMS, make_suggester
from generator import SearchSpace, categorical, double, integer
from generator.katib.models import AlgorithmSetting, AlgorithmSpec, ParameterSpec

HARTMANN_A = [
    [10, 3, 17, 3.5, 1.7, 8],
    [0.05, 10, 17, 0.1, 8, 14],
    [3, 3.5, 1.7, 10, 17, 8],
    [17, 8, 0.05, 10, 0.1, 14],
]
HARTMANN_P = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
]
HARTMANN_ALPHA = [1.0, 1.2, 3.0, 3.2]


def branin(v: dict[str, str]) -> float:
    x1, x2 = float(v["x1"]), float(v["x2"])
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10


def hartmann6(v: dict[str, str]) -> float:
    x = [float(v[f"x{i}"]) for i in range(6)]
    total = 0.0
    for alpha, a, p in zip(HARTMANN_ALPHA, HARTMANN_A, HARTMANN_P, strict=True):
        total -= alpha * math.exp(-sum(a[j] * (x[j] - p[j]) ** 2 for j in range(6)))
    return total


def mixed(v: dict[str, str]) -> float:
    offset = {"relu": 0.0, "tanh": 0.3, "sigmoid": 0.6}[v["activation"]]
    return (
        (float(v["x"]) - 0.3) ** 2
        + (float(v["y"]) - 0.7) ** 2
        + (int(v["layers"]) - 4) ** 2 / 50
        + offset
    )


PROBLEMS: dict[str, tuple[list[ParameterSpec], Callable[[dict[str, str]], float], float]] = {
    "branin": (
        SearchSpace(x1=double(-5.0, 10.0), x2=double(0.0, 15.0)).parameters(),
        branin,
        0.397887,
    ),
    "hartmann6": (
        SearchSpace({f"x{i}": double(0.0, 1.0) for i in range(6)}).parameters(),
        hartmann6,
        -3.32237,
    ),
    "mixed": (
        SearchSpace(
            x=double(0.0, 1.0),
            y=double(0.0, 1.0),
            layers=integer(1, 10),
            activation=categorical(["relu", "tanh", "sigmoid"]),
        ).parameters(),
        mixed,
        0.0,
    ),
}


def regrets(task: tuple[str, str, int, int]) -> tuple[str, str, int, float, float]:
    algorithm, problem, batch, seed = task
    parameters, function, optimum = PROBLEMS[problem]
    spec = AlgorithmSpec(
        algorithm_name=algorithm,
        algorithm_settings=[AlgorithmSetting(name="random_state", value=str(seed))],
    )
    suggester = make_suggester(spec, parameters, "minimize")
    best, at25 = math.inf, math.inf
    done = 0
    while done < 50:
        batch_of: list[Assignments] = suggester.suggest(min(batch, 50 - done))
        for assignments in batch_of:
            value = function(dict(assignments))
            suggester.observe(assignments, value)
            best = min(best, value)
            done += 1
            if done == 25:
                at25 = best
    return algorithm, problem, batch, at25 - optimum, best - optimum


def katib_regrets(task: tuple[str, str, int, int]) -> tuple[str, str, int, float, float]:
    """Katib's multivariate-tpe service, driven as it drives optuna."""
    _, problem, batch, seed = task
    parameters, function, optimum = PROBLEMS[problem]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sampler = optuna.samplers.TPESampler(
            seed=seed,
            multivariate=True,
            constant_liar=True,
            n_startup_trials=10,
            n_ei_candidates=24,
        )
    study = optuna.create_study(sampler=sampler, direction="minimize")
    space = distributions(parameters)
    best, at25, done = math.inf, math.inf, 0
    while done < 50:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            asked = [study.ask(space) for _ in range(min(batch, 50 - done))]
        for trial in asked:
            value = function({k: str(v) for k, v in trial.params.items()})
            study.tell(trial.number, value)
            best = min(best, value)
            done += 1
            if done == 25:
                at25 = best
    return "katib multivariate-tpe", problem, batch, at25 - optimum, best - optimum


def katib_tpe_regrets(task: tuple[str, str, int, int]) -> tuple[str, str, int, float, float]:
    """Katib's tpe service, driven as it drives hyperopt (only doubles, ints and
    categoricals without steps, as in these problems)."""
    import hyperopt  # optional: the bench's second baseline
    import numpy as np

    _, problem, batch, seed = task
    parameters, function, optimum = PROBLEMS[problem]
    space: dict[str, object] = {}
    for p in parameters:
        feasible = p.feasible_space
        if p.parameter_type == "double":
            space[p.name] = hyperopt.hp.uniform(p.name, float(feasible.min), float(feasible.max))
        elif p.parameter_type == "int":
            space[p.name] = hyperopt.hp.uniformint(p.name, float(feasible.min), float(feasible.max))
        else:
            space[p.name] = hyperopt.hp.choice(p.name, feasible.list_)
    domain = hyperopt.Domain(None, space, pass_expr_memo_ctrl=None)
    trials = hyperopt.Trials()
    rstate = np.random.RandomState(seed)
    best, at25, done, first = math.inf, math.inf, 0, True
    while done < 50:
        count = min(batch, 50 - done)
        ids = trials.new_trial_ids(count)
        call_seed = rstate.randint(2**31 - 1)
        if first:
            docs = hyperopt.tpe.suggest(ids, domain, trials, call_seed, n_startup_jobs=count)
            first = False
        else:  # one call per trial, each with the same seed and the same trials
            docs = [
                hyperopt.tpe.suggest([i], domain, trials, call_seed, n_startup_jobs=count)[0]
                for i in ids
            ]
        for doc in docs:
            values = {}
            for p in parameters:
                raw = doc["misc"]["vals"][p.name][0]
                if p.parameter_type == "categorical":
                    values[p.name] = str((p.feasible_space.list_ or [])[int(raw)])
                elif p.parameter_type == "int":
                    values[p.name] = str(int(raw))
                else:
                    values[p.name] = str(float(raw))
            value = function(values)
            doc["result"] = {"loss": value, "status": hyperopt.STATUS_OK}
            doc["state"] = hyperopt.JOB_STATE_DONE
            best = min(best, value)
            done += 1
            if done == 25:
                at25 = best
        trials.insert_trial_docs(docs)
        trials.refresh()
    return "katib tpe", problem, batch, at25 - optimum, best - optimum


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--bo-seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    algorithms = sorted(ALGORITHMS - {"grid", "hyperband", "pbt"})
    tasks = [
        (algorithm, problem, batch, seed)
        for algorithm in algorithms
        for problem in PROBLEMS
        for batch in (1, 3)
        for seed in range(args.bo_seeds if algorithm == "bayesianoptimization" else args.seeds)
    ]
    katib = [t for t in tasks if t[0] == "multivariate-tpe"]
    with Pool(args.workers) as pool:
        results = pool.map(regrets, tasks, chunksize=1)
        results += pool.map(katib_regrets, katib, chunksize=1)
        algorithms.append("katib multivariate-tpe")
        if importlib.util.find_spec("hyperopt") is not None:
            tpe = [t for t in tasks if t[0] == "tpe"]
            results += pool.map(katib_tpe_regrets, tpe, chunksize=1)
            algorithms.append("katib tpe")
    print("median regret after 25 / 50 trials (lower is better)")
    print("| algorithm | " + " | ".join(f"{p} seq | {p} x3" for p in PROBLEMS) + " |")
    print("| --- |" + " --- |" * (2 * len(PROBLEMS)))
    for algorithm in algorithms:
        cells = []
        for problem in PROBLEMS:
            for batch in (1, 3):
                chosen = [r for r in results if r[:3] == (algorithm, problem, batch)]
                at25 = statistics.median(r[3] for r in chosen)
                at50 = statistics.median(r[4] for r in chosen)
                cells.append(f"{at25:.3g} / {at50:.3g}")
        print(f"| {algorithm} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
