"""The result cache: exact round trip, hits that skip training, keys, eviction, many processes."""

import dataclasses
import multiprocessing
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import lab
import lab.cache
import lab.relay
import lab.ui
from lab.cache import ResultCache, cache_bytes, cache_dir, key, train_cached
from lab.run import Run

# 4 layers of 64 units: a pickled Run of ~120 KB, so diskcache keeps it in a file of its own
SMALL = lab.Config(steps=40, depth=4, width=64, n_samples=300)


@pytest.fixture(scope="module")
def trained():
    return lab.train(SMALL)


@pytest.fixture
def cache(tmp_path):
    c = ResultCache(tmp_path / "cache")
    yield c
    c.close()


@pytest.fixture
def counted(monkeypatch):
    """Count calls of lab.train made through lab.cache."""
    calls = []
    real = lab.cache.train

    def counting(*args, **kw):
        calls.append(args[0])
        return real(*args, **kw)

    monkeypatch.setattr(lab.cache, "train", counting)
    return calls


def _same(a, b, where: str) -> None:
    """Assert `a` and `b` hold the same values, recursing into Runs, dicts and sequences."""
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype, where
        torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True, msg=where)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), where
        for k in a:
            _same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    elif dataclasses.is_dataclass(a) and not isinstance(a, lab.Config):
        assert type(a) is type(b), where
        for f in dataclasses.fields(a):
            if f.name != "from_cache":
                _same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    else:
        assert type(a) is type(b) and a == b, f"{where}: {a!r} != {b!r}"


def assert_same_run(a: Run, b: Run) -> None:
    """Every field of the two Runs equal (bit for bit), except from_cache."""
    _same(a, b, "run")


def test_cache_folder_comes_from_the_environment(monkeypatch):
    assert cache_dir({"LAB_CACHE_DIR": ""}) is None
    assert cache_dir({"LAB_CACHE_DIR": "  "}) is None
    assert cache_dir({"LAB_CACHE_DIR": "/srv/lab-cache"}) == Path("/srv/lab-cache")
    default = cache_dir({})
    assert default is not None and "gradient-lab" in str(default)
    assert cache_bytes({}) == lab.cache.DEFAULT_MB * 2**20
    assert cache_bytes({"LAB_CACHE_MB": "10"}) == 10 * 2**20
    with pytest.raises(ValueError, match="LAB_CACHE_MB"):
        cache_bytes({"LAB_CACHE_MB": "lots"})
    monkeypatch.setenv("LAB_CACHE_DIR", "")  # what tests/conftest.py sets for the suite
    assert lab.cache.default_cache() is None


def test_a_hit_returns_the_same_run_without_training(cache, counted):
    t0 = time.perf_counter()
    first = train_cached(SMALL, cache=cache)
    t1 = time.perf_counter()
    frames = []
    hit = train_cached(SMALL, on_frame=frames.append, cache=cache)
    t2 = time.perf_counter()
    print(f"trained in {t1 - t0:.3f} s, served from the cache in {t2 - t1:.4f} s")
    assert len(counted) == 1  # the second call never trained
    assert not first.from_cache and hit.from_cache and hit is not first
    assert frames == [hit]  # the dashboard draws the cached Run once
    assert_same_run(hit, first)
    assert hit.status() == first.status() == "finished 40 steps"
    # the cached weights load into a fresh model and compute what the trained net computed:
    # its class and confidence at every point of the prediction grid, which the training
    # recorded from the live net (first was trained, not unpickled), and the reported
    # validation loss and accuracy (same device, eval mode)
    model = lab.build_model(SMALL)
    model.load_state_dict(hit.model_state)
    model.eval()
    x0, x1, y0, y1 = first.predictions.grid_extent
    side = first.predictions.grid_class.shape[0]
    gx, gy = torch.linspace(x0, x1, side), torch.linspace(y0, y1, side)
    grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), dim=-1).reshape(-1, 2)
    data = lab.data.load(SMALL)
    with torch.no_grad():
        conf, cls = torch.softmax(model(grid), dim=1).max(dim=1)
        logits = model(data.x_val)
    assert len(np.unique(first.predictions.grid_class)) > 1  # a boundary to get right, not a blank
    np.testing.assert_array_equal(cls.reshape(side, side).numpy(), first.predictions.grid_class)
    np.testing.assert_allclose(conf.reshape(side, side).numpy(), first.predictions.grid_confidence,
                               rtol=1e-5)
    loss = torch.nn.functional.cross_entropy(logits, data.y_val).item()
    acc = (logits.argmax(1) == data.y_val).float().mean().item()
    assert loss == pytest.approx(hit.val_loss[-1], rel=1e-6) and acc == hit.val_acc[-1]
    # an untrained net of the same shape computes something else: the check can fail
    fresh = lab.build_model(SMALL.replace(seed=1)).eval()
    with torch.no_grad():
        other = torch.softmax(fresh(grid), dim=1).max(dim=1).values.reshape(side, side)
    assert not np.allclose(other.numpy(), first.predictions.grid_confidence, rtol=1e-3)


def test_round_trip_keeps_nan_and_the_prediction_grid(cache, trained):
    assert cache.put(trained)
    hit = cache.get(SMALL)
    assert np.isnan(trained.act_saturated).all()  # relu: NaN by design
    assert_same_run(hit, trained)
    assert hit.predictions.grid_class is not None


def test_without_a_cache_every_call_trains(counted):
    train_cached(SMALL.replace(steps=5), cache=None)
    train_cached(SMALL.replace(steps=5), cache=None)
    assert len(counted) == 2


def test_only_complete_runs_are_stored(cache):
    cancelled = lab.train(SMALL, cancel=lambda: True)
    timed_out = lab.train(SMALL, max_seconds=1e-6)
    at_init = lab.inspect(SMALL)
    assert cancelled.cancelled and timed_out.time_limited_at == 1
    for run in (cancelled, timed_out, at_init):
        assert not cache.put(run)
        assert cache.get(SMALL) is None
    # divergence is the result of the config, the same in every kernel: worth sharing
    diverging = SMALL.replace(lr=10.0, init="normal", init_gain=3.0, optimizer="sgd")
    diverged = lab.train(diverging)
    assert diverged.diverged_at is not None
    assert cache.put(diverged)
    assert_same_run(cache.get(diverging), diverged)


def test_key_is_stable_and_changes_with_config_and_version(cache, trained, monkeypatch):
    assert key(SMALL) == key(lab.Config.from_json(SMALL.to_json()))
    assert len({key(SMALL), key(SMALL.replace(seed=1)), key(SMALL.replace(lr=0.0031))}) == 3
    assert cache.put(trained)
    assert cache.get(SMALL) is not None
    before = key(SMALL)
    monkeypatch.setattr(lab, "__version__", "999.0")  # a new release of the lab
    assert key(SMALL) != before
    assert cache.get(SMALL) is None
    monkeypatch.undo()
    assert cache.get(SMALL) is not None


def test_a_broken_entry_is_a_miss_and_is_replaced(cache, trained):
    cache._store.set(key(SMALL), b"not a pickle")
    assert cache.get(SMALL) is None
    assert key(SMALL) not in cache._store  # dropped, not read again and again
    cache._store.set(key(SMALL), pickle.dumps({"a": "dict, not a Run"}))
    assert cache.get(SMALL) is None
    assert cache.put(trained)
    assert cache.get(SMALL) is not None


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_device_this_machine_lacks_is_a_quiet_miss(cache):
    assert cache.get(SMALL.replace(device="cuda")) is None
    with pytest.raises(ValueError, match="not available"):
        train_cached(SMALL.replace(device="cuda"), cache=cache)  # lab.train says why


def test_eviction_keeps_the_cache_within_its_bound(tmp_path, trained):
    entry = len(pickle.dumps(trained))
    limit = 24 * entry + 64 * 1024  # room for ~24 Runs and the SQLite index
    cache = ResultCache(tmp_path / "small", size_limit=limit)
    configs = [SMALL.replace(seed=i) for i in range(60)]
    for cfg in configs:
        assert cache.put(dataclasses.replace(trained, config=cfg))
        assert cache.volume() <= limit
        assert cache.get(cfg) is not None  # the newest always stays
    assert cache.get(configs[0]) is None  # the oldest went first
    assert 10 <= len(cache) < 25
    # one Run larger than a twentieth of the bound would flush the others: it is not stored
    tiny = ResultCache(tmp_path / "tiny", size_limit=10 * entry)
    assert not tiny.put(trained) and len(tiny) == 0
    cache.close()
    tiny.close()


def test_least_recently_used_is_evicted_first(tmp_path, trained):
    entry = len(pickle.dumps(trained))
    cache = ResultCache(tmp_path / "lru", size_limit=24 * entry + 64 * 1024)
    configs = [SMALL.replace(seed=i) for i in range(60)]
    for i, cfg in enumerate(configs):
        assert cache.put(dataclasses.replace(trained, config=cfg))
        if i % 5 == 0:
            assert cache.get(configs[0]) is not None  # read now and then: kept
    assert cache.get(configs[1]) is None
    cache.close()


# ---------------------------------------------------------------- many processes at once


def _hammer(directory, run, role, start, writers_done, results) -> None:
    """In a fresh process: store and/or read one config over and over; report what it saw.

    Writers make 40 rounds; the reader and the clearer go on until every writer is done.
    """
    cache = ResultCache(directory)
    hits = misses = rounds = 0
    errors = []
    start.wait(timeout=120)  # every process has imported torch: now they overlap
    while (rounds < 40) if role == "write" else not writers_done.is_set():
        rounds += 1
        if role == "clear":  # another kernel's eviction deleting files while we read
            cache._store.clear(retry=True)
            time.sleep(0.02)
            continue
        if role == "write" and not cache.put(run):
            errors.append("put failed")
        got = cache.get(run.config)
        if role == "read":
            time.sleep(0.001)  # a reader, not a busy loop on a shared machine
        if got is None:
            misses += 1
            continue
        hits += 1
        try:
            assert_same_run(got, run)
        except AssertionError as e:  # a torn or mixed-up read
            errors.append(str(e)[:200])
    cache.close()
    results.put((role, rounds, hits, misses, errors))


def test_many_processes_share_one_key_without_torn_reads(tmp_path, trained):
    directory = str(tmp_path / "shared")
    ResultCache(directory).close()  # create the index once, as the first kernel would
    roles = ["write", "write", "read", "clear"]
    spawn = multiprocessing.get_context("spawn")  # fresh interpreters, like separate kernels
    start, done, results = spawn.Barrier(len(roles)), spawn.Event(), spawn.Queue()
    procs = [spawn.Process(target=_hammer, args=(directory, trained, role, start, done, results))
             for role in roles]
    for p in procs:
        p.start()
    reports = []
    while len(reports) < len(roles):
        reports.append(results.get(timeout=300))
        if sum(r[0] == "write" for r in reports) == 2:
            done.set()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    print(reports)
    errors = [e for *_, errs in reports for e in errs]
    assert not errors, errors[:3]
    seen = {role: (hits, misses) for role, _, hits, misses, _ in reports}
    assert seen["read"][0] > 0 and seen["write"][0] > 0  # whole Runs were read while others wrote
    cache = ResultCache(directory)
    assert cache.put(trained)
    assert_same_run(cache.get(SMALL), trained)
    cache.close()


# ---------------------------------------------------------------- the dashboard


def test_dashboard_shows_a_cached_run_from_cache(tmp_path, monkeypatch):
    fast = lab.Config(steps=30, n_samples=300, width=16, depth=4)
    calls = []
    real = lab.relay.train
    monkeypatch.setattr(lab.relay, "train",
                        lambda *a, **kw: calls.append(a[0]) or real(*a, **kw))
    cache = ResultCache(tmp_path / "dash")
    d = lab.ui.Dashboard(fast, cache=cache)
    try:
        assert d.wait(120)
        first = d.run
        assert "from cache" not in d.status.value and len(calls) == 1
        d.controls["depth"].value = 5
        assert d.wait(120) and len(calls) == 2
        d.controls["depth"].value = 4  # back to the first config: served, not trained
        assert d.wait(120)
        assert len(calls) == 2
        assert d.run.from_cache and "from cache" in d.status.value
        assert "finished 30 steps" in d.status.value and d.progress.value == 30
        assert_same_run(d.run, first)
        assert d.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        d.close()
        cache.close()
