"""PROD with a slow loss, so that a test can kill a run in the middle of an epoch. Its name is
"prod": a run started with it resumes with the real PROD (same math, same run identity)."""

import time

from code_unlearn_bench.unlearn.methods.prod import PROD


class SlowPROD(PROD):
    def loss(self, model, seqs, state):
        time.sleep(0.4)
        return super().loss(model, seqs, state)
