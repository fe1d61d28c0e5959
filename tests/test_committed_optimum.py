"""The committed optimum (params/optimum/<dataset>.yaml) is the committed studies' answer, not a hand-edited file.

The default tier retrains each model at the configuration that file names, without a search. Here each model's
chosen trial is looked up in the journals committed under ``studies/<dataset>/``: exactly one of that model's journals
holds a finished trial with the recorded number and validation score, and the file's configuration is that trial's
parameters as the study reports them (rounded as :func:`arerec.sweeps.spaces.rounded` rounds them). So a study run
again, or an optimum written from another build, fails here until both are committed together.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from arerec.sweeps.spaces import parse_space, rounded
from arerec.sweeps.tuning import SearchSettings, open_study

ROOT = Path(__file__).resolve().parents[1]
OPTIMA = sorted((ROOT / "params" / "optimum").glob("*.yaml"))


def _finished_trials(journal: Path, model: str) -> list:
    from optuna.trial import TrialState

    study = open_study(journal, model, "minimize", SearchSettings())
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


@pytest.mark.parametrize("optimum", OPTIMA, ids=[p.stem for p in OPTIMA])
def test_each_chosen_configuration_is_a_trial_of_a_committed_journal(optimum: Path) -> None:
    record = yaml.safe_load(optimum.read_text())
    dataset = record["study"]["data"]["dataset"]
    assert record["models"], f"{optimum} names no model"
    for model, entry in record["models"].items():
        trial = entry["trial"]
        journals = sorted((ROOT / "studies" / dataset).glob(f"{model}-*.journal"))
        before = {j: j.read_bytes() for j in journals}
        matches = [(j, t) for j in journals for t in _finished_trials(j, model)
                   if t.number == trial["number"] and t.value == trial["val_score"]]
        assert len(matches) == 1, (f"{model}: {len(matches)} committed journals hold trial {trial['number']} "
                                   f"with validation score {trial['val_score']}")
        space = parse_space(model, record["study"]["spaces"][model])
        found = {k: rounded(v) for k, v in space.values(matches[0][1].params).items()}
        assert found == entry["chosen"], f"{model}: {optimum.name} says {entry['chosen']}, the journal {found}"
        assert {j: j.read_bytes() for j in journals} == before, "reading a committed journal changed it"


def test_the_default_tier_has_a_committed_optimum_for_ml_100k() -> None:
    assert ROOT / "params" / "optimum" / "ml-100k.yaml" in OPTIMA
