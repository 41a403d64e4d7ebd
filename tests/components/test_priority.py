import threading
import time

import numpy as np
from threadpoolctl import threadpool_info

from voxgate.components.priority import Foreground, one_blas_thread


def test_numpy_s_blas_runs_on_one_thread_after_one_blas_thread():
    np.ones((64, 64)) @ np.ones((64, 64))  # the BLAS library is loaded
    one_blas_thread()
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas and all(pool["num_threads"] == 1 for pool in blas)


def test_background_work_waits_while_the_foreground_is_held():
    foreground = Foreground()
    waited: list[float] = []

    def background() -> None:
        started = time.monotonic()
        foreground.yield_to()
        waited.append(time.monotonic() - started)

    with foreground.hold():
        assert foreground.busy
        worker = threading.Thread(target=background)
        worker.start()
        time.sleep(0.1)
        assert not waited
    worker.join(timeout=5)
    assert not foreground.busy
    assert waited and waited[0] >= 0.09
