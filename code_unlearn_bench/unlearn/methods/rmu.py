"""RMU (representation misdirection for unlearning) at one decoder layer.

Li et al. 2024, "The WMDP Benchmark: Measuring and Reducing Malicious Use With Unlearning"
(arXiv:2403.03218), Sec. 5 (RMU). With M(t) the hidden state of layer ``layer`` at token t,
u a fixed random unit vector (entries drawn uniformly from [0, 1), normalised) and c the
steering coefficient:

    L_forget = E_{t in forget} || M_updated(t) - c * u ||^2
    L_retain = E_{t in retain} || M_updated(t) - M_frozen(t) ||^2
    L        = L_forget + alpha * L_retain

The squared norms are means over tokens and hidden units (the reference code's ``mse_loss``).
Our choices, documented in docs/methods.md:

* tokens: the positions that predict an answer token (y_f of a forget pair, the answer of a
  retain pair), as every other loss here; for copyright that is the whole file.
* M_frozen on the retain set depends only on the model before unlearning, so it is computed
  once before training (like PROD's targets) instead of keeping a frozen model copy.
* updated parameters: as in the reference code (layer 7 of Zephyr-7B, layers 5-7, parameter
  index 6 = ``mlp.down_proj``), only the MLP output projection of ``layer`` and the two layers
  before it are trained; with ``--lora`` only the LoRA weights on those projections.
* ``layer`` ``auto`` = the reference's relative depth, floor(n_layers * 7 / 32) (7 for a
  32-layer model, 6 for SmolLM2's 30, 0 for a 2-layer test model).
* c = 6.5 and alpha = 1200 are the reference's Zephyr-7B values; the forward pass stops after
  ``layer`` (the layers above it play no part in the loss) in one process; under a distributed
  wrapper it runs to the end (the wrapper's gradient synchronisation needs its whole forward).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.unlearn.method import Method, check_positive
from code_unlearn_bench.unlearn.tokens import SeqBatch

# Names of a decoder block's MLP output projection across architectures (Llama/Mistral/Qwen,
# GPT-2/StarCoder, OPT/Phi, GPT-NeoX).
_MLP_OUT = ("down_proj", "mlp.c_proj", "fc2", "dense_4h_to_h")


class _Stop(Exception):
    """Raised by the capture hook: nothing above the steered layer is needed."""


def control_vector(dim: int, steering_coeff: float, seed: int) -> torch.Tensor:
    """c * u, u uniform [0, 1) entries normalised to unit length (fixed by ``seed``)."""
    u = torch.rand(dim, generator=torch.Generator().manual_seed(seed))
    return u / u.norm() * steering_coeff


def rmu_loss(forget_act: torch.Tensor, control: torch.Tensor, retain_act: torch.Tensor,
             frozen_retain_act: torch.Tensor, alpha: float) -> torch.Tensor:
    """Activations [N, D] at the steered layer; control [D]."""
    forget_term = F.mse_loss(forget_act.float(), control.to(forget_act.device).expand_as(forget_act))
    return forget_term + alpha * F.mse_loss(retain_act.float(), frozen_retain_act.to(retain_act.device))


def _unwrapped(model):
    """The model inside a DDP/FSDP wrapper (accelerate's prepare): the config and layers live there."""
    return getattr(model, "module", model)


def decoder_layers(model) -> torch.nn.ModuleList:
    model = _unwrapped(model)
    n = model.config.num_hidden_layers
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n:
            return module
    raise CubError(f"RMU cannot find the model's {n} decoder layers")


def layer_activations(model, seq: SeqBatch, layer: int) -> torch.Tensor:
    """[N, D] hidden states leaving decoder layer ``layer`` at the answer-predicting positions."""
    captured = {}
    # Stop at the layer only in a bare model: an exception out of a DDP/FSDP/DeepSpeed wrapper's
    # forward skips its post-forward bookkeeping (DDP's reducer then never all-reduces: measured,
    # each rank kept its own gradients); wrapped, the forward runs to the end
    stop = _unwrapped(model) is model

    def hook(module, args, output):
        captured["h"] = output[0] if isinstance(output, tuple) else output
        if stop:
            raise _Stop

    handle = decoder_layers(model)[layer].register_forward_hook(hook)
    try:
        model(input_ids=seq.input_ids, attention_mask=seq.attention_mask, use_cache=False)
    except _Stop:
        pass
    finally:
        handle.remove()
    return captured["h"][:, :-1][seq.predict_mask]


class RMU(Method):
    name = "rmu"
    sequences = ("forget", "retain")
    defaults = {"layer": "auto", "steering_coeff": 6.5, "alpha": 1200.0, "vector_seed": 0}

    def validate(self):
        check_positive("steering-coeff", self.hp["steering_coeff"])
        if self.hp["alpha"] < 0:
            raise CubError(f"--alpha must be >= 0 (got {self.hp['alpha']})")
        layer = self.hp["layer"]
        if layer != "auto":
            try:
                self.hp["layer"] = int(layer)
            except (TypeError, ValueError):
                raise CubError(f"--rmu-layer must be 'auto' or a layer index (got {layer!r})") from None

    def layer(self, model) -> int:
        n = _unwrapped(model).config.num_hidden_layers
        layer = n * 7 // 32 if self.hp["layer"] == "auto" else self.hp["layer"]
        if not 0 <= layer < n:
            raise CubError(f"--rmu-layer {layer} is outside the model's layers 0..{n - 1}")
        return layer

    def select_trainable(self, model):
        layer = self.layer(model)
        blocks = decoder_layers(model)
        lora = any("lora_" in name for name, _ in model.named_parameters())
        for p in model.parameters():
            p.requires_grad = False
        chosen = 0
        for i in range(max(0, layer - 2), layer + 1):
            for name, p in blocks[i].named_parameters():
                if any(key in name for key in _MLP_OUT) and (not lora or "lora_" in name):
                    p.requires_grad = True
                    chosen += 1
        if not chosen:
            raise CubError(f"RMU found no MLP output projection ({', '.join(_MLP_OUT)}) in layers "
                           f"{max(0, layer - 2)}..{layer}")

    def precompute(self, model, seqs):
        return {"frozen_retain": layer_activations(model, seqs["retain"], self.layer(model)).float().cpu()}

    def loss(self, model, seqs, state):
        layer = self.layer(model)
        forget_act = layer_activations(model, seqs["forget"], layer)
        retain_act = layer_activations(model, seqs["retain"], layer)
        control = control_vector(forget_act.shape[-1], self.hp["steering_coeff"], self.hp["vector_seed"])
        return rmu_loss(forget_act, control, retain_act, state["frozen_retain"], self.hp["alpha"])


METHOD = RMU
