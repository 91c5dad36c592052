"""The SLAMs losses on tiny cases computed by hand (one image, K = 3, categories 0 = background and 2
present), and the gradient paths the method relies on."""
import pytest
import torch

from slamslib import losses as L
from slamslib.models.semantic_encoder import CategorySemantics

Y_HAT = torch.tensor([[1.0, 0.0, 1.0, 0.0]])     # background and category 2 present


def pairs():
    return L.pairs_of(Y_HAT)


def test_pairs_list_every_present_category_with_the_others():
    b, k, others = pairs()
    assert b.tolist() == [0, 0] and k.tolist() == [0, 2]
    assert others.tolist() == [[0, 0, 1, 0], [1, 0, 0, 0]]


def scores_for(rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_foreground_loss_is_zero_for_a_perfect_map_and_one_half_for_the_whole_image():
    b, k, others = pairs()
    # perfect: the piece under M_0 shows only background, the piece under M_2 only category 2
    perfect = scores_for([[1, 0, 0, 0], [0, 0, 1, 0]])
    assert L.foreground_loss(perfect, k, others, b, 1).item() == pytest.approx(0.0)
    # a map covering the whole image: each piece is the image, which shows background and 2:
    # pair 0: 1/2[(1 - 1) + 1] = 0.5; pair 2: 1/2[(1 - 1) + 1] = 0.5
    whole = scores_for([[1, 0, 1, 0], [1, 0, 1, 0]])
    assert L.foreground_loss(whole, k, others, b, 1).item() == pytest.approx(0.5)
    # a map that misses its object entirely (the piece shows only the other category): 1
    wrong = scores_for([[0, 0, 1, 0], [1, 0, 0, 0]])
    assert L.foreground_loss(wrong, k, others, b, 1).item() == pytest.approx(1.0)


def test_background_loss_is_zero_for_a_perfect_map_and_one_half_for_the_whole_image():
    b, k, others = pairs()
    # perfect: what M_0 leaves out is category 2 alone, what M_2 leaves out is background alone
    perfect = scores_for([[0, 0, 1, 0], [1, 0, 0, 0]])
    assert L.background_loss(perfect, k, others, b, 1).item() == pytest.approx(0.0)
    # whole-image map: the rest is an empty image the SE scores 0 everywhere: 1/2[0 + (1 - 0)]
    empty = scores_for([[0, 0, 0, 0], [0, 0, 0, 0]])
    assert L.background_loss(empty, k, others, b, 1).item() == pytest.approx(0.5)
    # a map that misses its object: the rest still shows it: 1/2[1 + 0] per pair
    missed = scores_for([[1, 0, 1, 0], [1, 0, 1, 0]])
    assert L.background_loss(missed, k, others, b, 1).item() == pytest.approx(0.5)


def test_the_pair_mean_is_per_image_first():
    # image 0 has two pairs with losses 0 and 1 (mean 0.5), image 1 one pair with loss 0 -> 0.25,
    # not the 1/3 a flat mean over the three pairs would give
    y_hat = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    b, k, others = L.pairs_of(y_hat)
    values = torch.tensor([0.0, 1.0, 0.0])
    assert L.per_image_mean(values, b, 2).item() == pytest.approx(0.25)


def maps_of(bg, c2, h=2, w=4):
    maps = torch.zeros(1, 4, h, w)
    maps[0, 0], maps[0, 2] = bg, c2
    return maps


def test_regularization_by_hand():
    weight = torch.ones(1, 1, 2, 4)
    object_left = torch.zeros(2, 4)
    object_left[:, :2] = 1
    # perfect maps: M_2 on the left half, M_0 on the right: mean(M_1..3) = (0 + 0.5 + 0) / 3
    maps = maps_of(1 - object_left, object_left)
    assert L.regularization_loss(maps, weight).item() == pytest.approx(0.5 / 3 + 0.5)
    # everything on: 1 + (1 - 1); everything off: 0 + (1 - 0)
    assert L.regularization_loss(torch.ones(1, 4, 2, 4), weight).item() == pytest.approx(1.0)
    assert L.regularization_loss(torch.zeros(1, 4, 2, 4), weight).item() == pytest.approx(1.0)


def test_partition_loss_is_zero_for_a_partition_and_counts_valid_pixels_only():
    object_left = torch.zeros(2, 4)
    object_left[:, :2] = 1
    weight = torch.ones(1, 1, 2, 4)
    assert L.partition_loss(maps_of(1 - object_left, object_left), Y_HAT, weight).item() == 0.0
    # a soft two-way partition is one too
    soft = torch.full((2, 4), 0.3)
    assert L.partition_loss(maps_of(1 - soft, soft), Y_HAT, weight).item() == pytest.approx(0.0, abs=1e-7)
    # both maps on everywhere: (1 + 1 - 1)^2 = 1 per pixel and pair
    assert L.partition_loss(torch.ones(1, 4, 2, 4), Y_HAT, weight).item() == pytest.approx(1.0)
    # the right half is padding: whatever the maps say there does not count
    padded = weight.clone()
    padded[..., 2:] = 0
    broken = maps_of(1 - object_left, object_left)
    broken[0, :, :, 2:] = 1
    assert L.partition_loss(broken, Y_HAT, padded).item() == pytest.approx(0.0, abs=1e-7)
    assert L.partition_loss(broken, Y_HAT, weight).item() == pytest.approx(0.5)


def test_presence_loss_moves_absent_categories_embeddings_not_their_semantics():
    semantics = CategorySemantics(4, 5, tau=10, delta=0.5)
    embeddings = torch.rand(1, 4, 5, requires_grad=True)
    L.presence_loss(semantics, embeddings, Y_HAT).backward()
    grad = semantics.table.grad
    assert grad[[1, 3]].abs().sum() == 0            # absent: semantics untouched
    assert grad[[0, 2]].abs().sum() > 0             # present: semantics move
    assert embeddings.grad[0, [1, 3]].abs().sum() > 0


def test_presence_loss_by_hand_with_plain_cosine():
    semantics = CategorySemantics(2, 2, tau=0, delta=0.5)
    with torch.no_grad():
        semantics.table.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    embeddings = torch.tensor([[[1.0, 1.0], [1.0, 1.0]]])    # cos = 1/sqrt(2) with both rows
    y_hat = torch.tensor([[1.0, 0.0]])
    c = 2 ** -0.5
    expected = -(torch.log(torch.tensor(c)) + torch.log(torch.tensor(1 - c))) / 2
    assert L.presence_loss(semantics, embeddings, y_hat).item() == pytest.approx(expected.item(), rel=1e-5)


def test_semantic_guidance_never_moves_the_se_semantics():
    semantics = CategorySemantics(4, 5, tau=10, delta=0.5)
    embeddings = torch.rand(2, 4, 5, requires_grad=True)
    y_hat = torch.tensor([[1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    L.semantic_guidance_loss(semantics, embeddings, y_hat).backward()
    assert semantics.table.grad is None
    assert embeddings.grad.abs().sum() > 0


def test_cam_loss_is_the_multilabel_soft_margin():
    logits = torch.tensor([[2.0, -1.0]])
    labels = torch.tensor([[1.0, 0.0]])
    expected = (torch.log1p(torch.exp(torch.tensor(-2.0))) + torch.log1p(torch.exp(torch.tensor(-1.0)))) / 2
    assert L.cam_loss(logits, labels).item() == pytest.approx(expected.item(), rel=1e-6)
