"""The SE's and the AN's building blocks on cases computed by hand: the attention pooling, its
sharpness param, and the cosine against the category semantics."""
import pytest
import torch

from slamslib.config import load_config
from slamslib.models.semantic_encoder import EPS, EmbeddingHead, cosine_to
from slamslib.training import build_network


def test_attention_pooling_weighs_pixels_by_softmax_of_sharpness_times_cosine():
    head = EmbeddingHead(channels=2, categories=1, dim=2, pool="attention", sharpness=5.0)
    with torch.no_grad():   # identity embedding: pixel x's embedding is its feature
        head.conv.weight.copy_(torch.eye(2)[:, :, None, None])
        head.conv.bias.zero_()
    features = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).T.reshape(1, 2, 1, 2)   # two pixels, e1 and e2
    semantics = torch.tensor([[1.0, 0.0]])                                    # cos 1 and cos 0
    pooled = head(features, semantics=semantics)[0].detach()
    w = torch.softmax(torch.tensor([5.0, 0.0]), 0)
    assert pooled[0, 0] == pytest.approx(w.tolist(), abs=1e-5)
    head.sharpness = 50.0   # nearly max pooling: the most category-like pixel alone
    assert head(features, semantics=semantics)[0].detach()[0, 0] == pytest.approx([1.0, 0.0], abs=1e-5)


def test_attention_sharpness_reaches_the_se_and_the_activation_net():
    cfg = load_config("params/smoke.yaml", {"semantic_encoder.attention_sharpness": 33.0})
    for name in ("semantic_encoder", "activation_net"):
        assert build_network(cfg, name, 5).head.sharpness == 33.0


def test_cosine_to_the_semantics_equals_torchs_cosine_similarity():
    embeddings = torch.relu(torch.randn(3, 4, 8, 5, 6))
    embeddings[0, 1] = 0   # a dead embedding: both clamp its norm at EPS
    semantics = torch.relu(torch.randn(4, 8))
    expected = torch.nn.functional.cosine_similarity(embeddings, semantics[None, :, :, None, None], dim=2, eps=EPS)
    assert torch.allclose(cosine_to(embeddings, semantics), expected, atol=1e-6)
