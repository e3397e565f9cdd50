"""Chat templates (--apply-chat-template): a task prompt becomes one user turn of the model's own
template (plus an optional system turn), ending with the assistant's generation prompt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from code_unlearn_bench.errors import ModelError


@dataclass(frozen=True)
class ChatFormat:
    system_prompt: str | None = None

    def messages(self, prompt: str) -> list[dict[str, str]]:
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return [*system, {"role": "user", "content": prompt}]

    def render(self, tokenizer, prompt: str) -> str:
        """The templated text; it carries its own special tokens (tokenise it without adding any)."""
        return tokenizer.apply_chat_template(self.messages(prompt), tokenize=False, add_generation_prompt=True)


def chat_format(tokenizer, model_name: str, apply: bool, system_prompt: str | None) -> ChatFormat | None:
    """The chat format a backend applies, or None; a model without a template is a clear error."""
    if not apply:
        if system_prompt:
            raise ModelError("--system-prompt needs --apply-chat-template")
        return None
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError(f"model '{model_name}' has no chat template (tokenizer_config.json chat_template); "
                         f"drop --apply-chat-template")
    return ChatFormat(system_prompt)


def prompt_format_json(apply: bool, system_prompt: str | None) -> dict[str, Any]:
    """What results.json records for a task run with a chat template ({} for plain prompts, so plain
    runs keep the identity they had before chat templates existed)."""
    return {"apply_chat_template": True, "system_prompt": system_prompt} if apply else {}
