"""arerec.train.backends and arerec.train.distribution: JAX and PyTorch beside TensorFlow, checkpoints across all
three, and keras.distribution on 4 virtual CPU devices and over 2 processes.

The other backends run in subprocesses (``KERAS_BACKEND`` is read once per process): whichever backend runs the
suite, these tests compare them with TensorFlow. The PyTorch cases need ``.[torch]`` (``make test-torch`` installs it).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import tiny_config
from subprocesses import backend_env, run_python

from arerec.config import Config
from arerec.errors import ConfigError
from arerec.train import backends, loop, runs

TOLERANCE = 1e-4  # the same backend on other devices: float32 sums in another order
# Another backend: its kernels round differently, and Adam divides each gradient by its running RMS, so a
# rounding difference in a tiny gradient becomes a difference of step size. Measured from one checkpoint,
# one epoch on: |loss difference| 4.3e-4 (dense Adam), 4.8e-4 (lazy), 2.1e-4 (lazy, row-wise); val_loss up to
# 9.4e-4. Scoring the same weights (no training) agrees to 1e-5.
ACROSS_BACKENDS = 3e-3
OTHERS = ["jax", pytest.param("torch", marks=pytest.mark.torch)]  # the backends compared with TensorFlow


TRAIN = """
    import json
    from arerec.config import Config
    from arerec.train.loop import train
    cfg = Config.from_dict(json.loads({cfg!r}))
    result = train(cfg)
    print(json.dumps({{"name": result.name, "history": result.history.to_dict("list"),
                      "final": {{k: float(v) for k, v in result.final.items()}}}}))
"""


def train_under(backend: str, cfg: Config, devices: int = 1) -> dict:
    """``loop.train(cfg)`` in a process under ``backend``: the run's name, history and final figures."""
    if backend == "torch":
        pytest.importorskip("torch", reason="PyTorch is not installed: make test-torch installs .[torch]")
    return run_python(TRAIN.format(cfg=json.dumps(cfg.to_dict())), backend_env(backend, devices))


def _same(a: dict, b: dict, keys=("loss", "val_loss", "rmse", "ndcg@5"), atol: float = ACROSS_BACKENDS) -> None:
    for key in keys:
        np.testing.assert_allclose(a[key], b[key], atol=atol, err_msg=key)


@pytest.fixture
def on_tensorflow():
    if backends.name() != "tensorflow":
        pytest.skip("compares a TensorFlow run in this process with a JAX one in a subprocess")


@pytest.mark.slow
@pytest.mark.parametrize("other", OTHERS)
def test_a_tensorflow_checkpoint_evaluates_and_resumes_under_another_backend_as_under_tensorflow(tmp_path, on_tensorflow,
                                                                                               other):
    """Same checkpoint, same batches: epoch 3 under JAX (masked lazy Adam) or PyTorch (its own sparse lazy Adam),
    row-wise, is TensorFlow's (sparse lazy Adam), weights and optimiser state restored alike."""
    cfg = tiny_config(tmp_path, update_mode="lazy", second_moment="rowwise", epochs=2)
    first = loop.train(cfg)
    twin = tmp_path / "Twin"
    shutil.copytree(tmp_path / "Model", twin)
    resume = dict(epochs=3, load_model=1, model_name=first.name)
    tf_resumed = loop.train(cfg.replace(**resume)).history.iloc[-1].to_dict()
    other_resumed = train_under(other, cfg.replace(model_path=str(twin), **resume))
    assert other_resumed["name"] == first.name  # resumed in the TensorFlow run's own folder
    assert other_resumed["history"]["epoch"] == [1, 2, 3]
    _same(tf_resumed, {k: v[-1] for k, v in other_resumed["history"].items()})
    # evaluate only (do_train 0): the epoch-2 checkpoint scores the same under both
    evaluated = train_under(other, cfg.replace(model_path=str(tmp_path / "Model"), do_train=0, model_name=first.name,
                                               load_weight_path="cp-0002.ckpt"))
    _same(first.history.iloc[-1].to_dict() | {"val_loss": first.final["val_loss"]},
          evaluated["final"], keys=("val_loss", "rmse", "ndcg@5", "hr@3"), atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("other", OTHERS)
def test_a_run_of_another_backend_is_a_run_of_its_own_and_resumes_under_tensorflow(tmp_path, on_tensorflow, other):
    """A JAX run (dense Adam) or a PyTorch run (lazy Adam, element-wise) scores the same under TensorFlow, PyTorch's
    under JAX too, and TensorFlow resumes it."""
    cfg = tiny_config(tmp_path, epochs=2, update_mode="lazy" if other == "torch" else "dense")
    trained = train_under(other, cfg)
    assert trained["name"].endswith(f"_{other}")  # its own folder: its initial draws are its backend's
    assert runs.parse_model_name(trained["name"])["seed"] == 0
    score = cfg.replace(do_train=0, model_name=trained["name"])
    evaluated = loop.train(score)
    _same(evaluated.final, trained["final"], keys=("val_loss", "rmse", "ndcg@5", "hr@3"), atol=1e-5)
    if other == "torch":  # the third backend scores PyTorch's weights too
        _same(train_under("jax", score)["final"], trained["final"], keys=("val_loss", "rmse", "ndcg@5", "hr@3"),
              atol=1e-5)
    resumed = loop.train(cfg.replace(epochs=3, load_model=1, model_name=trained["name"]))
    assert resumed.history["epoch"].tolist() == [1, 2, 3]
    assert resumed.history["loss"].iloc[-1] < resumed.history["loss"].iloc[0]


SHARDS = """
    import json
    from arerec.config import Config
    from arerec.train.build import build
    from arerec.train.loop import train
    out = {{}}
    for mode in ("none", "model", "data"):
        cfg = Config.from_dict(json.loads({cfg!r})).replace(distribution=mode, model_path={path!r} + mode)
        result = train(cfg)
        lcu = [v for v in result.model.trainable_variables if v.path.endswith(("k_iu/table", "k_ui/table"))]
        if mode == "model":  # the optimiser's moments of the tables (built as training builds them)
            model, optimizer = build(result.experiment)
            lcu += [v for v in optimizer.variables if "k_iu" in v.path or "k_ui" in v.path]
            lcu += [v for v in optimizer.variables if "velocity_rowwise" in v.path]
        out[mode] = {{"loss": result.history["loss"].tolist(), "val_loss": result.history["val_loss"].tolist(),
                     "rows": [int(v.shape[0]) for v in lcu], "nbytes": [int(v.value.nbytes) for v in lcu],
                     "shard_bytes": [[int(s.data.nbytes) for s in v.value.addressable_shards] for v in lcu]}}
    print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def on_4_devices(tmp_path_factory):
    """One epoch of tiny data under JAX on 4 virtual CPU devices, with each distribution; and its config."""
    tmp = tmp_path_factory.mktemp("devices")
    cfg = tiny_config(tmp, update_mode="lazy", second_moment="rowwise", epochs=1)
    return cfg, run_python(SHARDS.format(cfg=json.dumps(cfg.to_dict()), path=str(tmp / "Model-")), backend_env("jax", 4))


@pytest.mark.slow
def test_model_parallel_on_4_devices_matches_one_device_with_a_quarter_of_the_tables_each(on_4_devices):
    _, out = on_4_devices
    for mode in ("model", "data"):
        np.testing.assert_allclose(out[mode]["loss"], out["none"]["loss"], atol=TOLERANCE, err_msg=mode)
        np.testing.assert_allclose(out[mode]["val_loss"], out["none"]["val_loss"], atol=TOLERANCE, err_msg=mode)
    # both tables, their momentum and their row-wise second moments: a quarter of the bytes on each device
    assert len(out["model"]["nbytes"]) == 2 + 2 + 2
    for nbytes, shards in zip(out["model"]["nbytes"], out["model"]["shard_bytes"], strict=True):
        assert len(shards) == 4 and all(s * 4 == nbytes for s in shards)
    assert all(rows % 4 == 0 for rows in out["model"]["rows"])  # padded to divide: none's rows + zero rows
    assert all(0 <= m - n < 4 for m, n in zip(out["model"]["rows"][:2], out["none"]["rows"], strict=True))
    for nbytes, shards in zip(out["data"]["nbytes"], out["data"]["shard_bytes"], strict=True):
        assert shards == [nbytes] * 4  # data parallel: every device holds the whole table


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_of_two_devices_reach_the_losses_of_one_process(tmp_path, on_4_devices):
    base, out = on_4_devices  # its data are prepared; "none" is one process on one device
    single = {"history": {"loss": out["none"]["loss"], "val_loss": out["none"]["val_loss"]}}
    cfg = base.replace(model_path=str(tmp_path / "Model"))
    port = _free_port()
    code = TRAIN.format(cfg=json.dumps(cfg.replace(distribution="model", num_processes=2,
                                                   job_addresses=f"127.0.0.1:{port}").to_dict()))
    procs = []
    for process in (0, 1):
        script = code.replace("result = train(cfg)", f"result = train(cfg.replace(process_id={process}))")
        procs.append(subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env=backend_env("jax", 2)))
    outputs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr[-4000:]
        outputs.append(json.loads(stdout.strip().splitlines()[-1]))
    for out in outputs:  # every process saw the same global losses
        np.testing.assert_allclose(out["history"]["loss"], single["history"]["loss"], atol=TOLERANCE)
        np.testing.assert_allclose(out["history"]["val_loss"], single["history"]["val_loss"], atol=TOLERANCE)
    # process 0 wrote the run (its tables gathered from both processes); it loads on one device
    name = outputs[0]["name"]
    written = runs.read_results(runs.RunPaths(tmp_path / "Model" / cfg.dataset / name, name))
    np.testing.assert_allclose(written["loss"], single["history"]["loss"], atol=TOLERANCE)
    assert [p.name for p in (tmp_path / "Model" / cfg.dataset / name / "weight").glob("*.ckpt")] == ["cp-0001.ckpt"]


def test_distribution_settings_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="distribution must be one of none, data, model"):
        tiny_config(tmp_path, distribution="pipeline")
    with pytest.raises(ConfigError, match="process_id must be in 0..num_processes - 1"):
        tiny_config(tmp_path, num_processes=2, process_id=2)
    with pytest.raises(ConfigError, match="model_axis must be >= 0"):
        tiny_config(tmp_path, model_axis=-1)


def test_distribution_under_tensorflow_names_the_fix(tmp_path, on_tensorflow):
    from arerec.train.distribution import configure

    with pytest.raises(ConfigError, match="needs KERAS_BACKEND=jax"):
        configure(tiny_config(tmp_path, distribution="model"))


def test_an_unsupported_backend_is_refused_with_the_supported_ones(monkeypatch):
    monkeypatch.setattr(backends, "name", lambda: "numpy")
    with pytest.raises(ConfigError, match="KERAS_BACKEND=numpy is not supported.*tensorflow, jax, torch"):
        backends.current()
