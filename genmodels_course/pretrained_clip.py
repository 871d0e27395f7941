"""A pretrained CLIP (OpenAI's ViT-B/32 by default) behind the interface of the chapter's
small CLIP (:class:`genmodels_course.clip.CLIP`), for readers with a network.

    model, tokenizer = gm.pretrained_clip.load()        # downloads the weights once
    prompts = gm.clip.embed_prompts(model, tokenizer, ["a photo of a {name}"], ["cat", "dog"])
    labels = gm.clip.zero_shot_classify(model.encode_image(images), prompts.mean(1))

``encode_image`` takes images ``(B, 1 or 3, H, W)`` in [0, 1] of any size (grey images are
repeated to three channels, everything is resized to the model's input size and normalised
as the model was trained); ``encode_text`` takes token ids ``(B, L)`` from the returned
tokenizer's ``encode(texts, length)``, as the small CLIP's do. Both return unit vectors.

This needs the optional package ``transformers`` (``pip install transformers``), never a
core dependency: the chapter runs in full without it and without a network.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["PretrainedCLIP", "HFTokenizer", "load", "DEFAULT_MODEL", "PretrainedUnavailable"]

DEFAULT_MODEL = "openai/clip-vit-base-patch32"
# the normalisation CLIP's image tower was trained with (Radford et al. 2021)
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


class PretrainedUnavailable(RuntimeError):
    """The pretrained model cannot be loaded here (no ``transformers``, no network, no files)."""


def _transformers():
    try:
        import transformers
    except ImportError as exc:
        raise PretrainedUnavailable(
            "loading a pretrained CLIP needs the optional package transformers: run "
            "`pip install transformers` (in Colab: `!pip install transformers`), then try again; "
            "the rest of chapter 8 does not need it") from exc
    return transformers


def _features(out) -> Tensor:
    # transformers 4 returns the projected features; 5 returns an output whose
    # pooler_output holds them
    return out if isinstance(out, Tensor) else out.pooler_output


class HFTokenizer:
    """A Hugging Face tokenizer with the small tokenizer's ``encode(texts, length, device)``:
    int64 ids ``(B, length)``, truncated and padded to ``length`` (default: the model's)."""

    def __init__(self, tokenizer, length: int):
        self.tokenizer = tokenizer
        self.length = length

    def __len__(self) -> int:
        return len(self.tokenizer)

    def encode(self, texts, length: int | None = None, device=None) -> Tensor:
        if isinstance(texts, str):
            texts = [texts]
        length = length or self.length
        if length > self.length:
            raise ValueError(f"this model reads at most {self.length} tokens, asked for {length}")
        ids = self.tokenizer(list(texts), padding="max_length", truncation=True, max_length=length,
                             return_tensors="pt")["input_ids"]
        return ids.to(device) if device is not None else ids


class PretrainedCLIP(nn.Module):
    """A ``transformers`` ``CLIPModel`` with the small CLIP's methods (see the module text)."""

    def __init__(self, model, mean=OPENAI_MEAN, std=OPENAI_STD):
        super().__init__()
        self.model = model.eval()
        self.image_size = int(model.config.vision_config.image_size)
        self.context_length = int(model.config.text_config.max_position_embeddings)
        self.embed_dim = int(model.config.projection_dim)
        self.pad_id = model.config.text_config.pad_token_id
        self.eos_id = model.config.text_config.eos_token_id
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    @property
    def logit_scale(self) -> Tensor:
        return self.model.logit_scale

    def scale(self) -> Tensor:
        return self.model.logit_scale.clamp(max=torch.log(torch.tensor(100.0)))

    def preprocess(self, x: Tensor) -> Tensor:
        """Images ``(B, 1 or 3, H, W)`` in [0, 1] -> the model's normalised input."""
        if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1] not in (1, 3) or x.shape[0] == 0:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"expected images (B, 1 or 3, H, W) in [0, 1], got {shape}")
        x = x.to(self.mean.device, torch.float32)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bicubic",
                              align_corners=False, antialias=True).clamp(0, 1)
        return (x - self.mean) / self.std

    @torch.no_grad()
    def encode_image(self, x: Tensor) -> Tensor:
        feats = _features(self.model.get_image_features(pixel_values=self.preprocess(x)))
        return F.normalize(feats, dim=-1)

    @torch.no_grad()
    def encode_text(self, tokens: Tensor) -> Tensor:
        if not isinstance(tokens, Tensor) or tokens.dtype != torch.long or tokens.ndim != 2:
            raise ValueError("tokens must be an int64 tensor (B, L) from the tokenizer's encode")
        tokens = tokens.to(self.mean.device)
        # attend up to and including the first end-of-text token (padding may reuse its id)
        is_eos = tokens == self.eos_id
        mask = (is_eos.long().cumsum(1) - is_eos.long()) == 0
        feats = _features(self.model.get_text_features(input_ids=tokens, attention_mask=mask.long()))
        return F.normalize(feats, dim=-1)


def load(name_or_path: str | Path = DEFAULT_MODEL, device=None,
         local_files_only: bool = False) -> tuple[PretrainedCLIP, HFTokenizer]:
    """``(model, tokenizer)`` of a pretrained CLIP: a Hugging Face model name (downloaded
    once into the Hugging Face cache) or a folder written by ``save_pretrained``.

    Raises :class:`PretrainedUnavailable` with what to do when ``transformers`` is missing or
    the files cannot be had (no network and nothing cached)."""
    from . import runtime

    tf = _transformers()
    try:
        model = tf.CLIPModel.from_pretrained(str(name_or_path), local_files_only=local_files_only)
        tok = tf.AutoTokenizer.from_pretrained(str(name_or_path), local_files_only=local_files_only)
    except OSError as exc:
        where = ("the folder does not hold a saved CLIP" if Path(str(name_or_path)).exists()
                 else "it is neither a folder here nor reachable on the Hugging Face hub (no network?)")
        raise PretrainedUnavailable(
            f"cannot load the pretrained CLIP {str(name_or_path)!r}: {where}. Connect to the "
            f"internet once (the files are then cached), or pass a folder made by save_pretrained. "
            f"({type(exc).__name__}: {exc})") from exc
    wrapped = PretrainedCLIP(model).to(device if device is not None else runtime.device())
    return wrapped, HFTokenizer(tok, wrapped.context_length)
