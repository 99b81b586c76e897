"""Cache: finished Runs on disk, shared by every kernel of a server, so a config trains once.

Entries are pickled Runs in a diskcache.Cache (SQLite index + one file per Run): a value file
is written in full before its index row commits, so a reader sees a whole Run or none; two
processes storing the same key both succeed and the last one wins. The folder is LAB_CACHE_DIR
(unset: the user's cache directory; empty: no cache), bounded to LAB_CACHE_MB megabytes by
evicting the least recently used Runs. Values are pickles: the folder must be writable only by
the server's user.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import pickle
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import diskcache
import torch

import lab
from lab.config import Config
from lab.data import data_source
from lab.run import RECORD_VERSION, Histograms, Run
from lab.trainer import inspect, resolve_device, train

log = logging.getLogger("lab.cache")
CACHE_DIR_ENV = "LAB_CACHE_DIR"
CACHE_MB_ENV = "LAB_CACHE_MB"
DEFAULT_MB = 1024  # a default Run pickles to 0.3 MB, a 50-layer one to 1.5 MB: 700-3500 runs
# A Run bigger than 1/20 of the bound is not stored: it would flush many others. (Eviction
# removes the 10 least recently used at a time and stops once under the bound, so a Run under
# 1/10 of it is never evicted by its own put.)
ENTRY_SHARE = 20
LOCK_SECONDS = 10  # SQLite waits this long for another writer; then a read misses, a put skips
# the Run's layout and meaning are part of the key: a changed Run class never unpickles a
# stale entry
_LAYOUT = [f.name for f in dataclasses.fields(Run)] + [
    f.name for f in dataclasses.fields(Histograms)]
_FIELDS = frozenset(f.name for f in dataclasses.fields(Run))
_opened: dict[tuple, ResultCache | None] = {}
_opened_lock = threading.Lock()


def cache_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """The cache folder LAB_CACHE_DIR names; unset: the user's cache folder; empty: None (off)."""
    env = os.environ if environ is None else environ
    value = env.get(CACHE_DIR_ENV)
    if value is None:
        import platformdirs

        return Path(platformdirs.user_cache_dir("gradient-lab", appauthor=False)) / "runs"
    value = value.strip()
    return Path(value).expanduser() if value else None


def cache_bytes(environ: Mapping[str, str] | None = None) -> int:
    """The size bound in bytes, from LAB_CACHE_MB (default DEFAULT_MB)."""
    env = os.environ if environ is None else environ
    text = env.get(CACHE_MB_ENV, "").strip() or str(DEFAULT_MB)
    try:
        mb = float(text)
    except ValueError:
        mb = -1.0
    if not mb > 0:
        raise ValueError(f"{CACHE_MB_ENV}={text!r}: must be a positive number of megabytes")
    return int(mb * 2**20)


def key(cfg: Config) -> str:
    """A stable name for `cfg`'s Run: sha256 of the config and of what else shapes the result."""
    material = {
        "config": cfg.to_dict(),
        "lab": lab.__version__,  # a new version may train differently: its entries are new
        "torch": torch.__version__,
        "device": resolve_device(cfg.device).type,  # "auto" trains elsewhere on a GPU server
        "data": data_source(cfg.dataset),  # MNIST: from whichever folder LAB_DATA_DIR names
        "layout": _LAYOUT,
        "record": RECORD_VERSION,
    }
    text = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return "run-" + hashlib.sha256(text.encode()).hexdigest()


def cacheable(run: Run) -> bool:
    """True for Runs worth sharing: finished and not cut short by a cancel or the clock.

    A diverged or early-stopped Run is kept: it is what every kernel would compute again.
    """
    return (run.finished and not run.cancelled and run.time_limited_at is None
            and not run.at_init)


class ResultCache:
    """Finished Runs in one folder, bounded in size; safe to share between processes."""

    def __init__(self, directory: str | os.PathLike, size_limit: int = DEFAULT_MB * 2**20):
        self.directory = Path(directory)
        self.size_limit = int(size_limit)
        self._store = diskcache.Cache(str(self.directory), size_limit=self.size_limit,
                                      eviction_policy="least-recently-used",
                                      timeout=LOCK_SECONDS)

    def get(self, cfg: Config) -> Run | None:
        """The stored Run of `cfg` (with from_cache=True), or None; errors count as a miss."""
        try:
            name = key(cfg)
        except ValueError:  # device="cuda" on a machine without one: lab.train says so
            return None
        try:
            data = self._store.get(name, default=None)
            run = None if data is None else pickle.loads(data)
        except Exception as e:  # noqa: BLE001 - a broken entry or folder must not stop training
            log.warning("result cache %s: read failed (%s: %s)", self.directory,
                        type(e).__name__, e)
            self._forget(cfg)
            return None
        if run is None:
            return None
        # a Run pickled by a Run or Config class with fewer fields is stale: never served
        if not isinstance(run, Run) or not _FIELDS <= vars(run).keys():
            self._forget(cfg)
            return None
        try:
            same = run.config == cfg
        except AttributeError:  # a Config without one of today's fields
            same = False
        if not same:
            return None
        run.from_cache = True  # a fresh unpickled object: nobody else holds it
        return run

    def put(self, run: Run) -> bool:
        """Store a finished Run (see cacheable) unless it is too big; True if it was stored."""
        if not cacheable(run):
            return False
        try:
            data = pickle.dumps(dataclasses.replace(run, from_cache=False),
                                protocol=pickle.HIGHEST_PROTOCOL)
            if len(data) > self.size_limit // ENTRY_SHARE:
                return False
            stored = self._store.set(key(run.config), data)
            # set() evicts at most 10 entries; bigger newcomers could push the volume past
            # the bound, so evict until it holds again
            if self._store.volume() > self.size_limit:
                self._store.cull()
            return bool(stored)
        except Exception as e:  # noqa: BLE001 - a full disk must not stop the dashboard
            log.warning("result cache %s: write failed (%s: %s)", self.directory,
                        type(e).__name__, e)
            return False

    def _forget(self, cfg: Config) -> None:
        try:
            self._store.delete(key(cfg))
        except Exception:  # noqa: BLE001 - best effort: the next put replaces it anyway
            pass

    def volume(self) -> int:
        """Bytes on disk (index and files)."""
        return int(self._store.volume())

    def __len__(self) -> int:
        return len(self._store)

    def describe(self) -> str:
        """Where the cache is and how full, in one phrase."""
        return (f"{self.directory} ({len(self)} runs, {self.volume() / 2**20:.1f} MB of "
                f"{self.size_limit / 2**20:.0f} MB)")

    def close(self) -> None:
        """Close the index (the files stay)."""
        self._store.close()


def default_cache() -> ResultCache | None:
    """The cache the environment names (one per process and folder), or None when it is off."""
    folder = cache_dir()
    if folder is None:
        return None
    ident = (os.getpid(), str(folder), cache_bytes())  # a forked child opens its own
    with _opened_lock:
        if ident not in _opened:
            try:
                _opened[ident] = ResultCache(folder, ident[2])
            except Exception as e:  # noqa: BLE001 - no cache is better than no dashboard
                log.warning("result cache %s: cannot open (%s: %s); training without it",
                            folder, type(e).__name__, e)
                _opened[ident] = None
        return _opened[ident]


def resolve(cache: ResultCache | str | None) -> ResultCache | None:
    """`cache` itself, or for "env" the default cache (None: no cache)."""
    return default_cache() if cache == "env" else cache  # type: ignore[return-value]


def train_cached(cfg: Config, on_frame: Callable[[Run], None] | None = None,
                 cancel: Callable[[], bool] | None = None, max_seconds: float | None = None,
                 cache: ResultCache | str | None = "env",
                 frame_due: Callable[[], bool] | None = None, inspect_first: bool = False) -> Run:
    """`cfg`'s Run from the cache (from_cache=True, handed to on_frame once), else lab.train's.

    A trained Run that is cacheable is stored. `cache="env"` uses default_cache(); None trains
    without a cache. `inspect_first` (the dashboard): on a miss, hand lab.inspect's step-0 Run
    (at_init=True) to on_frame before training, and return it untrained if `cancel()` is true
    by then. `max_seconds` and `frame_due` go to lab.train.
    """
    store = resolve(cache)
    if store is not None:
        hit = store.get(cfg)
        if hit is not None:
            if on_frame is not None:
                on_frame(hit)
            return hit
    if inspect_first:
        initial = inspect(cfg)
        if on_frame is not None:
            on_frame(initial)
        if cancel is not None and cancel():  # a newer config came while this one was drawn
            return initial
    run = train(cfg, on_frame=on_frame, cancel=cancel, max_seconds=max_seconds,
                frame_due=frame_due)
    if store is not None:
        store.put(run)  # only finished runs: not cancelled, not cut by the time limit
    return run
