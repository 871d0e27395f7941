"""Cross-attention (8.8) against torch's scaled_dot_product_attention and by hand."""
import pytest
import torch
import torch.nn.functional as F

import genmodels_course as gm
from genmodels_course import exercises
from genmodels_course.cross_attention import CrossAttention, attention_weights


def _qkv(seed=0, b=2, n=5, l=4, d=8):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, n, d, generator=g, dtype=torch.float64),
            torch.randn(b, l, d, generator=g, dtype=torch.float64),
            torch.randn(b, l, 3, generator=g, dtype=torch.float64))


def test_weights_times_values_match_scaled_dot_product_attention():
    q, k, v = _qkv()
    pad = torch.tensor([[False, False, False, True], [False, True, True, True]])
    ours = attention_weights(q, k, pad) @ v
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=~pad[:, None, :])
    torch.testing.assert_close(ours, ref)


def test_weights_by_hand_rows_sum_to_one_and_padding_is_ignored():
    q, k, _ = _qkv(1, b=1, n=2, l=3, d=4)
    a = attention_weights(q, k, torch.tensor([[False, True, False]]))
    s = (q[0] @ k[0].T) / 2.0  # sqrt(d) = 2
    e = torch.exp(s[:, [0, 2]])
    torch.testing.assert_close(a[0][:, [0, 2]], e / e.sum(1, keepdim=True))
    assert torch.all(a[0][:, 1] == 0)
    torch.testing.assert_close(a.sum(-1), torch.ones(1, 2, dtype=torch.float64))


def test_bad_inputs_get_clear_errors():
    q, k, _ = _qkv()
    with pytest.raises(ValueError, match="same d"):
        attention_weights(q, k[..., :3])
    with pytest.raises(ValueError, match="nothing to attend to"):
        attention_weights(q, k, torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool"):
        attention_weights(q, k, torch.zeros(2, 4))
    layer = CrossAttention(8, 6)
    with pytest.raises(ValueError, match=r"\(B, 8, H, W\)"):
        layer(torch.zeros(2, 4, 7, 7), torch.zeros(2, 3, 6))
    with pytest.raises(ValueError, match="context"):
        layer(torch.zeros(2, 8, 7, 7), torch.zeros(2, 3, 5))


def test_layer_starts_as_identity_and_matches_torch_multihead_attention():
    g = torch.Generator().manual_seed(2)
    layer = CrossAttention(8, 6, heads=2, head_dim=4).double()
    h, ctx = torch.randn(3, 8, 7, 7, generator=g).double(), torch.randn(3, 5, 6, generator=g).double()
    pad = torch.zeros(3, 5, dtype=torch.bool)
    pad[0, 3:] = True
    torch.testing.assert_close(layer(h, ctx, pad), h)  # zero output projection
    with torch.no_grad():
        for p in layer.to_out.parameters():
            p.normal_(generator=g)
    out, a = layer(h, ctx, pad, return_weights=True)
    assert a.shape == (3, 2, 49, 5) and torch.all(a[0, :, :, 3:] == 0)
    # the same computation with torch's attention on the projected heads
    x = layer.norm(h).flatten(2).transpose(1, 2)
    split = lambda t: t.view(3, -1, 2, 4).transpose(1, 2)  # noqa: E731
    ref = F.scaled_dot_product_attention(split(layer.to_q(x)), split(layer.to_k(ctx)), split(layer.to_v(ctx)),
                                         attn_mask=~pad[:, None, None, :])
    ref = layer.to_out(ref.transpose(1, 2).reshape(3, 49, 8)).transpose(1, 2).reshape(3, 8, 7, 7)
    torch.testing.assert_close(out, h + ref)


def test_checker_passes_the_reference_and_fails_wrong_versions():
    name = "cross_attention.attention_weights"
    assert exercises.evaluate(name, attention_weights).passed

    def no_scale(q, k, key_padding_mask=None):
        s = q @ k.transpose(-1, -2)
        if key_padding_mask is not None:
            s = s.masked_fill(key_padding_mask.unsqueeze(-2), float("-inf"))
        return s.softmax(-1)

    def over_queries(q, k, key_padding_mask=None):
        return (q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5).softmax(-2)

    def ignores_padding(q, k, key_padding_mask=None):
        return attention_weights(q, k)

    def naive_exp(q, k, key_padding_mask=None):
        e = torch.exp(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5)
        if key_padding_mask is not None:
            e = e.masked_fill(key_padding_mask.unsqueeze(-2), 0.0)
        return e / e.sum(-1, keepdim=True)

    def detached(q, k, key_padding_mask=None):
        return attention_weights(q, k, key_padding_mask).detach()

    for wrong in (no_scale, over_queries, ignores_padding, naive_exp, detached):
        assert not exercises.evaluate(name, wrong).passed, wrong.__name__


def test_reachable_from_the_package():
    assert gm.cross_attention.CrossAttention is CrossAttention
