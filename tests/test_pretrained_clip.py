"""The pretrained-CLIP loader, offline: a tiny randomly initialised CLIP that the test
builds and saves with transformers, loaded back through gm.pretrained_clip."""
from __future__ import annotations

import sys

import pytest
import torch

import genmodels_course as gm
from genmodels_course import clip as CL
from genmodels_course import pretrained_clip as P

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

LENGTH = 16


def _tiny_tokenizer():
    """A byte-level BPE with CLIP's special tokens and a handful of merges."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab.setdefault(ch, len(vocab))
    merges = [("t", "h"), ("th", "e"), ("Ġ", "the"), ("o", "n"), ("Ġ", "on")]
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    tk = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tk.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>", special_tokens=[("<|startoftext|>", 0), ("<|endoftext|>", 1)])
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tk, bos_token="<|startoftext|>", eos_token="<|endoftext|>",
        pad_token="<|endoftext|>", unk_token="<|endoftext|>")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    tok = _tiny_tokenizer()
    text = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=LENGTH, bos_token_id=0, eos_token_id=1,
                pad_token_id=1)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  image_size=32, patch_size=8)
    torch.manual_seed(0)
    model = transformers.CLIPModel(transformers.CLIPConfig(text_config=text, vision_config=vision,
                                                           projection_dim=16)).eval()
    folder = tmp_path_factory.mktemp("tiny_clip")
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder, model, tok


def test_the_loader_round_trips_a_tiny_model(saved):
    folder, model, tok = saved
    loaded, tokenizer = P.load(folder, device="cpu", local_files_only=True)
    assert loaded.context_length == LENGTH and loaded.embed_dim == 16 and loaded.image_size == 32
    texts = ["the cat on the mat", "a dog"]
    ids = tokenizer.encode(texts)
    assert ids.dtype == torch.long and ids.shape == (2, LENGTH)
    ref_ids = tok(texts, padding="max_length", max_length=LENGTH, return_tensors="pt")
    assert torch.equal(ids, ref_ids["input_ids"])
    with torch.no_grad():
        out = model.get_text_features(**ref_ids)
        ref_text = torch.nn.functional.normalize(P._features(out), dim=-1)
    assert torch.allclose(loaded.encode_text(ids), ref_text, atol=1e-6)
    images = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        pix = (images - torch.tensor(P.OPENAI_MEAN).view(1, 3, 1, 1)) / torch.tensor(P.OPENAI_STD).view(1, 3, 1, 1)
        ref_img = torch.nn.functional.normalize(P._features(model.get_image_features(pixel_values=pix)), dim=-1)
    emb = loaded.encode_image(images)
    assert torch.allclose(emb, ref_img, atol=1e-5)
    assert torch.allclose(emb.norm(dim=1), torch.ones(3), atol=1e-5)


def test_padding_after_the_end_token_changes_nothing(saved):
    folder, _, _ = saved
    loaded, tokenizer = P.load(folder, device="cpu", local_files_only=True)
    short = tokenizer.encode(["the cat"], length=8)
    long = tokenizer.encode(["the cat"])
    assert torch.allclose(loaded.encode_text(short), loaded.encode_text(long), atol=1e-5)


def test_the_small_clip_helpers_take_the_pretrained_model(saved):
    folder, _, _ = saved
    loaded, tokenizer = P.load(folder, device="cpu", local_files_only=True)
    prompts = CL.embed_prompts(loaded, tokenizer, ["a photo of the {name}", "the {name}"], ["cat", "dog", "one"])
    assert prompts.shape == (3, 2, 16)
    grey = torch.rand(5, 1, 28, 28)  # MNIST-sized grey images are resized and repeated
    labels = CL.zero_shot_classify(loaded.encode_image(grey), prompts.mean(1))
    assert labels.shape == (5,) and labels.max() < 3
    with pytest.raises(ValueError, match="1 or 3"):
        loaded.encode_image(torch.rand(2, 2, 28, 28))
    with pytest.raises(ValueError, match="at most"):
        tokenizer.encode(["x"], length=LENGTH + 1)


def test_clear_errors_without_files_or_without_transformers(tmp_path, monkeypatch):
    with pytest.raises(P.PretrainedUnavailable, match="does not hold a saved CLIP"):
        P.load(tmp_path, local_files_only=True)
    with pytest.raises(P.PretrainedUnavailable, match="neither a folder"):
        P.load("no-such-owner/no-such-clip", local_files_only=True)
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(P.PretrainedUnavailable, match="pip install transformers"):
        P.load()
    assert "pretrained_clip" in dir(gm) or gm.pretrained_clip is P
