"""The quickstart of API.md: two trials on the local store, then the history and metrics."""

import pandas as pd

import xptrack

ex = xptrack.Experiment("quickstart")  # LocalBackend in ./xptrack_cache/quickstart
a = ex.parameter("a")  # Parameter(a: Undefined)
b = ex.parameter("b", default=2)


@ex  # a plain step (dask.delayed underneath)
def prepare(a, b):
    return a + b


@ex.persist  # a step whose output is stored per trial
def features(s):
    return [s] * 3


@ex.result  # the step whose output is the trial result
def score(s, f):
    for i in range(100):
        ex.save_metric("loss", epoch=i, value=1 / (i + s))
    return 10 / s


s = score(prepare(a, b), features(prepare(a, b)))

if __name__ == "__main__":
    ex.set_parameters(a=1, b=2)
    first = s.compute()  # -> 3.333..., one trial
    ex.set_parameters(b=3)
    second = s.compute(seed=1)  # another trial, random seeded
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(f"\n{ex!r}\n")
        print("History:")
        print(ex.get_history())
        print("\nMetric 'loss' of the last two trials (first epochs):")
        print(ex.load_metric("loss", trial_id=[ex.trial_id - 1, ex.trial_id]).head())
        features = ex.get_persisted("features", ex.trial_id)
        print(f"\nPersisted 'features' of trial {ex.trial_id}: {features}")
