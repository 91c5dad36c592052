"""The SE's background exclusion (the kit's own option): which cells make the object-only piece, the
loss on it, and that the background's labels never reshape the backbone's features."""
import pytest
import torch

from slamslib import losses as L
from slamslib.models.backbones import SmallBackbone
from slamslib.models.semantic_encoder import CategorySemantics, SemanticEncoder
from slamslib.tasks import SemanticEncoderTask


def test_strongest_cells_take_the_top_share_of_valid_cells_for_each_present_category():
    semantics = CategorySemantics(3, 2, tau=0, delta=0.5)
    with torch.no_grad():
        semantics.table.copy_(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    # 1 x 2 x 4 cells; each category's embedding has two dims: its cosine to s_k is set per cell
    cos1 = torch.tensor([[0.9, 0.2, 0.1, 0.8], [0.3, 0.1, 0.99, 0.0]])   # category 1 (s = e_x)
    cos2 = torch.tensor([[0.0, 0.9, 0.0, 0.0], [0.0, 0.0, 0.0, 0.7]])    # category 2 (s = e_y)
    def embedding(c, along):   # a non-negative 2-d vector whose cosine to `along` is c
        other = (1 - c ** 2).clamp_min(0).sqrt()
        return torch.stack([c, other] if along == 0 else [other, c])
    pixels = torch.cat([torch.rand(2, 2, 4), embedding(cos1, 0), embedding(cos2, 1)])[None]
    valid = torch.ones(1, 1, 2, 4)
    valid[..., 1, 2] = 0                                   # the cell with 0.99 is padding
    only_1 = L.strongest_cells(semantics, pixels, torch.tensor([[1.0, 1.0, 0.0]]), valid, share=0.25)
    # 7 valid cells -> ceil(1.75) = 2 per category: category 1's two best valid cells
    assert only_1[0].nonzero().tolist() == [[0, 0], [0, 3]]
    both = L.strongest_cells(semantics, pixels, torch.tensor([[1.0, 1.0, 1.0]]), valid, share=0.25)
    assert both[0].nonzero().tolist() == [[0, 0], [0, 1], [0, 3], [1, 3]]
    none = L.strongest_cells(semantics, pixels, torch.tensor([[1.0, 0.0, 0.0]]), valid, share=0.25)
    assert not none.any()


def test_exclusion_loss_is_the_bce_of_the_background_score_against_zero():
    semantics = CategorySemantics(2, 2, tau=0, delta=0.5)
    with torch.no_grad():
        semantics.table.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    embeddings = torch.tensor([[[0.6, 0.8], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]])
    # image 0: cos to s_0 = 0.6 -> -log(0.4); image 1 gave no piece and is not counted
    loss = L.background_exclusion_loss(semantics, embeddings, torch.tensor([True, False]))
    assert loss.item() == pytest.approx(-torch.log(torch.tensor(0.4)).item(), rel=1e-5)
    assert L.background_exclusion_loss(semantics, embeddings, torch.tensor([False, False])).item() == 0


def backbone_gradient(weight: float, background_row: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(0)
    se = SemanticEncoder(SmallBackbone(8), 4, 6, input_size=32, tau=10, delta=0.5, decoder=False,
                         pool="attention")
    with torch.no_grad():
        se.semantics.table[0] = background_row
    task = SemanticEncoderTask(se, 0.0, exclusion_weight=weight, exclusion_share=0.2)
    torch.manual_seed(1)
    images, valid = torch.randn(3, 3, 32, 32), torch.ones(3, 1, 32, 32)
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    task(images, valid, labels)["total"].backward()
    return torch.cat([p.grad.flatten() for p in se.backbone.parameters() if p.grad is not None])


def test_the_background_labels_never_reach_the_backbone_when_exclusion_is_on():
    """With the exclusion on, the background's semantics cannot change the backbone's gradient; with
    it off (SLAMS.md's plain presence loss) they do, so the check can fail."""
    a, b = torch.rand(6) + 0.1, torch.rand(6) + 0.1
    assert torch.allclose(backbone_gradient(1.0, a), backbone_gradient(1.0, b))
    assert not torch.allclose(backbone_gradient(0.0, a), backbone_gradient(0.0, b))
