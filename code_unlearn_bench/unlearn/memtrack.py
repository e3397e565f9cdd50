"""Peak bytes of live tensors during training, measured the same way on CPU and GPU.

Process RSS is a poor yardstick for the planner: the allocator keeps freed pages, and on a
loaded machine it moves between runs. Instead a TorchDispatchMode sees every tensor an op
creates and holds a weak reference to its storage; a storage counts from its creation until it
is freed. Tensors made before the mode (the weights) are registered with :meth:`track`. The
peak is exact for what torch allocates (no allocator rounding or fragmentation: the planner's
GPU reserve line covers those) and independent of machine load. The same idea as
``torch.distributed._tools.mem_tracker.MemTracker``, without its per-module hooks, which refuse
a second forward per iteration (gradient accumulation).
"""

from __future__ import annotations

import itertools
import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.weak import WeakIdKeyDictionary


class LiveTensorPeak(TorchDispatchMode):
    def __init__(self, device_type: str = "cpu"):
        super().__init__()
        self.device_type = device_type
        self.current = 0
        self.peak = 0
        self._tokens = WeakIdKeyDictionary()  # storage -> token
        self._bytes: dict[int, int] = {}  # token -> bytes
        self._refs: dict[int, weakref.ref] = {}
        self._counter = itertools.count()

    def track(self, tensors) -> None:
        for t in tensors:
            if t is not None:
                self._add(t)

    def reset_peak(self) -> None:
        self.peak = self.current

    def _freed(self, token: int) -> None:
        self.current -= self._bytes.pop(token, 0)
        self._refs.pop(token, None)

    def _add(self, t) -> None:
        if not isinstance(t, torch.Tensor) or t.device.type != self.device_type or t.is_sparse:
            return
        try:
            st = t.untyped_storage()
        except (NotImplementedError, RuntimeError):  # tensor subclasses without a plain storage
            return
        token = self._tokens.get(st)
        size = st.nbytes()
        if token is not None:  # seen before (a view, or an in-place op's output): maybe resized
            self.current += size - self._bytes[token]
            self._bytes[token] = size
        else:
            token = next(self._counter)
            self._tokens[st] = token
            self._bytes[token] = size
            self._refs[token] = weakref.ref(st, lambda _ref, tok=token: self._freed(tok))
            self.current += size
        self.peak = max(self.peak, self.current)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            self._add(t)
        return out


def optimizer_tensors(optimizer) -> list[torch.Tensor]:
    return [v for state in optimizer.state.values() for v in state.values() if isinstance(v, torch.Tensor)]
