"""TrainingSlots: at most `count` trainings at once across processes, first come first served."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from lab.slots import TrainingSlots, cores


def test_from_env_reads_the_count_and_folder_and_names_bad_values(tmp_path):
    slots = TrainingSlots.from_env({"LAB_TRAININGS": "3", "LAB_QUEUE_DIR": str(tmp_path)})
    assert slots.count == 3 and slots.folder == tmp_path and (tmp_path / "queue").is_dir()
    assert TrainingSlots.from_env({"LAB_QUEUE_DIR": str(tmp_path)}).count == cores()
    assert cores() == len(os.sched_getaffinity(0))
    for off in ("0", "off", " OFF "):
        assert TrainingSlots.from_env({"LAB_TRAININGS": off}) is None
    for bad in ("two", "-1", "1.5", "999"):
        with pytest.raises(ValueError, match=r"LAB_TRAININGS=.*whole number from 1 to 256"):
            TrainingSlots.from_env({"LAB_TRAININGS": bad, "LAB_QUEUE_DIR": str(tmp_path)})


def test_one_slot_serves_waiters_one_at_a_time_in_order_of_arrival(tmp_path):
    slots = TrainingSlots(tmp_path, 1, poll=0.005)
    blocker = slots.acquire()
    order, ahead_seen, running, most = [], {}, [0], [0]
    lock = threading.Lock()

    def student(i: int) -> None:
        seen = []
        slot = slots.acquire(on_wait=seen.append)
        with slot:
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
                order.append(i)
            time.sleep(0.02)
            with lock:
                running[0] -= 1
        ahead_seen[i] = seen

    threads = []
    for i in range(5):  # arrive one after the other while the slot is taken
        threads.append(threading.Thread(target=student, args=(i,)))
        threads[-1].start()
        deadline = time.monotonic() + 10
        while slots.waiting() < i + 1 and time.monotonic() < deadline:
            time.sleep(0.002)
    assert slots.waiting() == 5 and slots.busy() == 1
    blocker.release()
    for t in threads:
        t.join(30)
    assert order == [0, 1, 2, 3, 4]  # first come, first served
    assert most[0] == 1  # never two at once
    # each was first told how many had arrived before it, and then counted down
    for i, seen in ahead_seen.items():
        assert seen[0] == i and seen == sorted(seen, reverse=True)
    assert slots.waiting() == 0 and slots.busy() == 0


def test_two_slots_run_two_at_once_never_three(tmp_path):
    slots = TrainingSlots(tmp_path, 2, poll=0.005)
    running, most, lock = [0], [0], threading.Lock()

    def student() -> None:
        with slots.acquire():
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.05)
            with lock:
                running[0] -= 1

    threads = [threading.Thread(target=student) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert most[0] == 2


def test_a_cancelled_waiter_leaves_the_line(tmp_path):
    slots = TrainingSlots(tmp_path, 1, poll=0.005)
    held = slots.acquire()
    gave_up = threading.Event()
    result = []
    t = threading.Thread(target=lambda: result.append(slots.acquire(cancel=gave_up.is_set)))
    t.start()
    deadline = time.monotonic() + 10
    while slots.waiting() == 0 and time.monotonic() < deadline:
        time.sleep(0.002)
    assert slots.waiting() == 1
    gave_up.set()
    t.join(10)
    assert result == [None] and slots.waiting() == 0
    held.release()
    assert slots.busy() == 0


CHILD = """
import sys, time
from lab.slots import TrainingSlots
slots = TrainingSlots(sys.argv[1], 1, poll=0.005)
if sys.argv[2] == "hold":
    slots.acquire()
    print("holding", flush=True)
else:  # wait in line behind the holder
    slots.acquire(on_wait=lambda ahead: print("waiting", ahead, flush=True))
    print("got it", flush=True)
time.sleep(600)
"""


def _child(folder, role) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(folder), role],
                            stdout=subprocess.PIPE, text=True)


def test_a_killed_process_frees_its_slot_and_its_place_in_line(tmp_path):
    holder = _child(tmp_path, "hold")
    waiter = None
    try:
        assert holder.stdout.readline().strip() == "holding"
        waiter = _child(tmp_path, "wait")
        assert waiter.stdout.readline().strip() == "waiting 0"
        slots = TrainingSlots(tmp_path, 1, poll=0.005)
        assert slots.busy() == 1 and slots.waiting() == 1
        # a waiter that dies in line holds nobody up ...
        waiter.send_signal(signal.SIGKILL)
        waiter.wait(10)
        assert slots.waiting() == 0
        # ... and a holder that dies frees its slot for the next in line
        seen = []
        t = threading.Thread(target=lambda: seen.append(slots.acquire(on_wait=seen.append)))
        t.start()
        time.sleep(0.1)
        assert seen == [0]  # in line, first
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        t.join(10)
        assert len(seen) == 2 and seen[1] is not None and slots.busy() == 1
        seen[1].release()
    finally:
        for p in (holder, waiter):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(10)


def test_background_work_yields_to_every_training_whenever_it_came(tmp_path):
    slots = TrainingSlots(tmp_path, 1, poll=0.005)
    held = slots.acquire()
    order = []

    def take(who: str, background: bool = False) -> None:
        with slots.acquire(background=background):
            order.append(who)  # while holding the slot: the order they got it in

    background = threading.Thread(target=take, args=("pool", True))
    background.start()  # a pooled kernel wants to load torch: it came first
    assert _until(lambda: slots.waiting() == 1)
    student = threading.Thread(target=take, args=("student",))
    student.start()
    assert _until(lambda: slots.waiting() == 2)
    held.release()
    background.join(30)
    student.join(30)
    assert order == ["student", "pool"]


def _until(predicate, timeout=10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def test_a_pooled_kernel_loads_torch_after_the_line_or_its_patience(tmp_path, monkeypatch):
    import lab.ui

    monkeypatch.setenv("LAB_QUEUE_DIR", str(tmp_path))
    monkeypatch.setenv("LAB_TRAININGS", "1")
    slots = TrainingSlots(tmp_path, 1, poll=0.005)
    held = slots.acquire()  # a student trains and nothing frees the core
    waited = []
    t = threading.Thread(target=lambda: waited.append(lab.ui._preload(patience=0.3)))
    t.start()
    assert _until(lambda: slots.waiting() == 1)  # the pooled kernel is in line, at the back
    t.join(10)
    assert waited == [None] and not t.is_alive()  # it gave up waiting and went on
    assert slots.busy() == 1 and slots.waiting() == 0  # without taking the student's core
    held.release()


def test_a_line_that_does_not_move_lets_its_waiter_train_anyway(tmp_path):
    slots = TrainingSlots(tmp_path, 1, poll=0.005, patience=0.2)
    held = slots.acquire()  # a holder that never lets go
    seen = []
    slot = slots.acquire(on_wait=seen.append)
    assert seen == [0] and slot.index == -1  # it waited, then went on without a slot
    assert slots.busy() == 1 and slots.waiting() == 0
    slot.release()
    held.release()
