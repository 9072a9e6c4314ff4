"""`selected_logits` must equal the model's own full logits at the chosen positions."""

import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from fedmkt.models.logits import selected_logits


def _models():
    torch.manual_seed(0)
    yield LlamaForCausalLM(
        LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=2, num_key_value_heads=2, bos_token_id=1, eos_token_id=2)
    ).eval()
    yield GPT2LMHeadModel(GPT2Config(vocab_size=97, n_embd=32, n_layer=2, n_head=2,
                                     bos_token_id=1, eos_token_id=2)).eval()


def test_selected_logits_match_full_logits_with_padding():
    ids = torch.randint(3, 97, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0  # right padding
    positions = torch.zeros_like(ids, dtype=torch.bool)
    positions[0, 2:5] = True
    positions[1, 4:6] = True
    positions[2, 8] = True
    for model in _models():
        with torch.no_grad():
            full = model(input_ids=ids, attention_mask=mask).logits
            picked = selected_logits(model, ids, mask, positions)
        assert picked.shape == (int(positions.sum()), 97)
        torch.testing.assert_close(picked, full[positions], rtol=1e-5, atol=1e-5)
