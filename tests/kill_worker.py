"""Run by tests/test_reliability.py: a process that imports the library once, then forks one training run per line
``OUT MODE`` read on stdin (so each run starts at once), waits for it, and prints ``pid PID`` then ``exit PID CODE``
(CODE is ``-9`` for a run killed by SIGKILL). The test kills runs at random moments; each run resumes from
``OUT/state.pt``. Each run trains the toy model of tests/test_train.py with the book's loop; with MODE ``slow_write``
every checkpoint write prints ``writing`` and pauses halfway through the atomic write, so the test can kill it there.
"""

import os
import sys
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from test_train import Squares, _model  # noqa: E402

from sambook.train import loop  # noqa: E402


def run(out: Path, mode: str) -> None:
    torch.set_num_threads(1)
    if mode == "slow_write":
        save = torch.save

        def slow_save(obj, path):  # the temporary holds half a checkpoint when "writing" is printed
            with open(path, "wb") as handle:
                handle.write(b"half a checkpoint")
            print("writing", flush=True)
            time.sleep(60)
            save(obj, path)

        loop.torch.save = slow_save
    train, test = Squares(96, size=24), Squares(16, seed=1)
    loop.fit(_model(), train, test, out=out, epochs=6, batch_size=4, lr=0.05, seed=7, progress=False, resume=True)


print("ready", flush=True)
for line in sys.stdin:
    out, mode = line.split()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            run(Path(out), mode)
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        os._exit(code)
    print(f"pid {pid}", flush=True)
    _, status = os.waitpid(pid, 0)
    print(f"exit {pid} {-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)}", flush=True)
