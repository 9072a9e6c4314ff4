"""Tiny tokenizers, random-init causal LMs and questions for the evaluation tests (well under a second)."""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

from fedmkt.data.example import Example

SPECIALS = ["<pad>", "<s>", "</s>"]  # ids 0, 1, 2

QUESTIONS = [
    ("Which gas do plants absorb?", (" carbon dioxide", " oxygen", " helium", " neon gas"), 0),
    ("What melts ice fastest?", (" salt", " sand and small rocks", " cold air"), 0),
    ("Which planet is closest to the sun?", (" Venus", " Mars", " Mercury", " Earth", " Jupiter"), 2),
    ("What do bees make?", (" wax and silk", " honey"), 1),
    ("Which organ pumps blood?", (" the lungs", " the heart", " the liver", " the skin"), 1),
    ("What is frozen water called?", (" steam", " fog", " ice"), 2),
    ("Which animal lays eggs?", (" a dog", " a cow", " a chicken", " a horse"), 2),
]


def mc_examples() -> list[Example]:
    return [
        Example(uid=f"t/{i}", prompt=f"Question: {q}\nAnswer:", target=ch[g], choices=ch, gold=g)
        for i, (q, ch, g) in enumerate(QUESTIONS)
    ]


def _corpus() -> list[str]:
    lines = []
    for q, choices, _ in QUESTIONS:
        for c in choices:
            lines.append(f"Question: {q}\nAnswer:{c}\n")
    lines += ["the cat sat on the mat.", "a quick brown fox jumps over the lazy dog."] * 5
    return lines


def train_tokenizer(*, add_bos: bool = False) -> PreTrainedTokenizerFast:
    """Byte-level BPE (GPT-2 / SmolLM2 style); with ``add_bos`` it prepends ``<s>`` like Gemma's."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(_corpus(), trainer)
    if add_bos:
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def tiny_model(kind: str, vocab_size: int, seed: int = 0) -> torch.nn.Module:
    """2-layer random-init causal LM of the given architecture, in eval mode, float32."""
    torch.manual_seed(seed)
    common = dict(vocab_size=vocab_size, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    if kind == "llama":
        model = LlamaForCausalLM(LlamaConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, **common,
        ))
    elif kind == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=2, n_head=2, **common))
    elif kind == "gemma3":  # a 4-token sliding window so prompts overflow it, as long ones do in Gemma-3
        model = Gemma3ForCausalLM(Gemma3TextConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=1, head_dim=16, query_pre_attn_scalar=16, sliding_window=4,
            layer_types=["sliding_attention", "full_attention"], **common,
        ))
    else:
        raise ValueError(kind)
    return model.eval()


def memorize(model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, texts: list[str], steps: int = 80,
             lr: float = 1e-2, seed: int = 0) -> torch.nn.Module:
    """Overfit ``model`` on ``texts`` (full-sequence LM loss) so their continuations become near certain."""
    torch.manual_seed(seed)
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optim = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        loss = model(**batch, labels=labels).loss
        optim.zero_grad()
        loss.backward()
        optim.step()
    return model.eval()
