"""Order-negative builder, CompA scores, CWCL weights, the objective's loss, retrieval metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from polyclr.evaluation import retrieval_metrics
from polyclr.losses import CrossModalInfoNCE, cwcl_weights
from polyclr.modalities.audio.order import order_scores, ordered_events, swap_audio, swap_caption


@pytest.mark.parametrize(
    "caption,swapped,events",
    [
        ("a beep followed by noise", "noise followed by a beep", ("a beep", "noise")),
        ("a dog barks then a door slams", "a door slams then a dog barks", ("a dog barks", "a door slams")),
        ("first a chirp, then clicking", "first clicking, then a chirp", ("a chirp", "clicking")),
        ("a bell before a whistle.", "a whistle before a bell", ("a bell", "a whistle")),
        ("a dog barks after a door slams", "a door slams after a dog barks", ("a door slams", "a dog barks")),
    ],
)
def test_swap_caption(caption: str, swapped: str, events: tuple[str, str]) -> None:
    assert swap_caption(caption) == swapped
    assert ordered_events(caption) == events
    assert swap_caption(swap_caption(caption)) == caption.rstrip(".")


def test_unordered_caption_has_no_swap() -> None:
    assert swap_caption("a loud high beep") is None and ordered_events("noise") is None


def test_swap_audio() -> None:
    x = np.arange(10)
    np.testing.assert_array_equal(swap_audio(x, 3), [3, 4, 5, 6, 7, 8, 9, 0, 1, 2])
    np.testing.assert_array_equal(swap_audio(x), [5, 6, 7, 8, 9, 0, 1, 2, 3, 4])
    np.testing.assert_array_equal(swap_audio(np.stack([x, x]), 3)[1, :2], [3, 4])


def test_order_scores_hand_example() -> None:
    good = [[1.0, 0.0], [0.0, 1.0]]            # both scores right
    text_only = [[0.9, 0.8], [0.1, 0.95]]       # text: .9>.1, .95>.8 ok; audio: .9>.8 ok, .95>.1 ok
    wrong = [[0.2, 0.9], [0.8, 0.1]]            # everything reversed
    half = [[0.5, 0.6], [0.4, 0.7]]             # text: .5>.4 and .7>.6 ok; audio: .5>.6 fails
    s = order_scores(np.array([good, text_only, wrong, half]))
    assert s["text_score"] == pytest.approx(3 / 4)
    assert s["audio_score"] == pytest.approx(2 / 4)
    assert s["group_score"] == pytest.approx(2 / 4)


def test_cwcl_weights_closed_form() -> None:
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [3.0, 3.0]])
    w = cwcl_weights(q)
    s = 1 / math.sqrt(2)
    expected = torch.tensor([
        [1.0, 0.5, 0.0, (1 + s) / 2],
        [0.5, 1.0, 0.5, (1 + s) / 2],
        [0.0, 0.5, 1.0, (1 - s) / 2],
        [(1 + s) / 2, (1 + s) / 2, (1 - s) / 2, 1.0],
    ])
    torch.testing.assert_close(w, expected)


def test_clip_loss_hand_computed() -> None:
    """Two pairs, fixed temperature 1: loss = log(1 + e^(s01 - s00)) averaged, closed form."""
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [s := math.sqrt(0.5), s]])
    loss = CrossModalInfoNCE(temperature=1.0, learnable_temperature=False)(a, b)
    # a->b rows: [1, s] (pos 1) and [0, s] (pos s); b->a rows: [1, 0] (pos 1) and [s, s] (pos s)
    l_a = (math.log(math.exp(1) + math.exp(s)) - 1 + math.log(1 + math.exp(s)) - s) / 2
    l_b = (math.log(math.exp(1) + 1) - 1 + math.log(2 * math.exp(s)) - s) / 2
    assert float(loss) == pytest.approx((l_a + l_b) / 2, rel=1e-6)


def test_antipodal_padding_is_effectively_masked() -> None:
    """The objective pads rows without an order swap with -anchor; that must not change the loss."""
    torch.manual_seed(0)
    a, b = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1), torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    loss_fn = CrossModalInfoNCE(temperature=0.05, learnable_temperature=False)
    base = loss_fn(a, b)
    padded = loss_fn(a, b, extra_b_for_a=(-a).unsqueeze(1), extra_a_for_b=(-b).unsqueeze(1))
    assert float(padded - base) == pytest.approx(0.0, abs=1e-6)
    # a real hard negative (the positive itself, swapped) raises the loss
    harder = loss_fn(a, b, extra_b_for_a=b.unsqueeze(1))
    assert float(harder) > float(base)


def test_objective_order_negatives_change_loss_only_for_ordered_rows() -> None:
    from polyclr.modalities.audio.encoders import AudioEncoder
    from polyclr.modalities.audio.objectives import AudioTextObjective
    from polyclr.modalities.audio.text import TextTower

    torch.manual_seed(0)
    enc = AudioEncoder(frontend={"sample_rate": 8000, "n_mels": 32, "n_fft": 256, "hop_length": 80},
                       channels=(4, 8), embed_dim=16, proj_dim=8, specaugment={"n_masks": 0})
    texts = ["a tone", "a noise", "a tone then a noise", "a noise then a tone"]
    tower = TextTower("small", 8, vocab=TextTower.build_vocab(texts), small_dim=16)
    idx = tower.register(texts)
    enc.eval(), tower.eval()
    batch = {"wave": torch.randn(3, 4000) * 0.1, "text": idx[:3], "swap_text": torch.tensor([-1, -1, 3]),
             "swap_wave": torch.randn(3, 4000) * 0.1, "has_swap": torch.tensor([False, False, True])}
    clip = AudioTextObjective(enc, tower, "clip", learnable_temperature=False)
    order = AudioTextObjective(enc, tower, "clip+order", learnable_temperature=False)
    l_clip, l_order = float(clip(batch)["loss"].detach()), float(order(batch)["loss"].detach())
    assert l_order > l_clip  # one extra negative per direction for row 2
    none = dict(batch, has_swap=torch.tensor([False, False, False]))
    assert float(order(none)["loss"].detach()) == pytest.approx(l_clip, abs=1e-6)


def test_retrieval_metrics_hand_example() -> None:
    sim = np.array([[0.9, 0.1, 0.5], [0.2, 0.3, 0.8], [0.7, 0.6, 0.1]])
    rel = np.eye(3, dtype=bool)
    m = retrieval_metrics(sim, rel)
    # rank of the relevant item: query0 1st (.9), query1 2nd (.8 > .3 > .2), query2 3rd (.7 > .6 > .1)
    assert m["R@1"] == pytest.approx(1 / 3)
    assert m["R@5"] == pytest.approx(1.0)
    # AP: 1, 1/2, 1/3
    assert m["mAP@10"] == pytest.approx((1 + 0.5 + 1 / 3) / 3)
