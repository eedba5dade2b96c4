"""Rewards whose targets matter: MnasNet's two-sided form, series members that would run the same search,
the accuracy scale, and costs that can never make a reward unbounded."""

import math

import pytest
import torch

from tnd.errors import TndError
from tnd.search.config import RewardConfig
from tnd.search.policy import log_prob, reinforce_loss, update_baseline
from tnd.search.reward import (DEFAULT_EXPONENT, DEFAULT_EXPONENT_BELOW, EXPONENT_HELP, REWARD_FORM_HELP,
                               TARGET_HELP, Preference, RewardSpec, equivalence_message, equivalent_members,
                               absolute_reward, mnas_reward, parse_exponent, soft_reward,
                               sum_reward)

pytestmark = pytest.mark.usefixtures("single_thread")


def spec(form="mnas", targets=None, exponents=None, objectives=("acc", "latency"), stages=1, **extra):
    cfg = RewardConfig(list(objectives), form=form, targets=targets or {"latency": "1ms"},
                       exponents=exponents or {}, **extra)
    return RewardSpec.from_config(cfg, stages)


def test_mnas_reward_values():
    # MnasNet, Tan et al. CVPR 2019, eq. 2: R = ACC * (LAT / T) ** w, w = alpha if LAT <= T else beta.
    e, eb, t = {"lat": -1.0}, {"lat": -0.07}, {"lat": 2.0}
    assert mnas_reward(0.9, {"lat": 1.0}, t, e, eb) == pytest.approx(0.9 * 0.5 ** -0.07)
    assert mnas_reward(0.9, {"lat": 2.0}, t, e, eb) == pytest.approx(0.9)
    assert mnas_reward(0.9, {"lat": 4.0}, t, e, eb) == pytest.approx(0.45)
    s = spec(exponents={"latency": {"below": -0.07, "above": -1.0}}, targets={"latency": "2ms"})
    assert s.form == "mnas" and s.exponents_below == ((-0.07,),) and s.exponents == ((-1.0,),)
    assert s.reward(0.9, {"latency": 4.0}, 0) == pytest.approx(0.45)
    assert s.reward(0.9, {"latency": 1.0}, 0) == pytest.approx(0.9 * 0.5 ** -0.07)
    # the target moves the reward's shape, not only its scale: the ranking of two networks can flip
    cheap, dear = (0.80, 1.0), (0.84, 2.0)                     # (acc, latency ms)
    for target, better in (("1ms", cheap), ("2ms", dear)):
        sp = spec(targets={"latency": target})
        r = {n: sp.reward(a, {"latency": c}, 0) for n, (a, c) in (("cheap", cheap), ("dear", dear))}
        assert max(r, key=r.get) == ("cheap" if better is cheap else "dear")


def test_mnas_exponents_defaults_per_stage_and_errors():
    s = spec(exponents={"latency": -0.5})                       # one exponent: the one above the target
    assert s.exponents == ((-0.5,),) and s.exponents_below == ((DEFAULT_EXPONENT_BELOW,),)
    assert spec(exponents={"latency": -0.03}).exponents_below == ((-0.03,),)   # never harsher below than above
    d = spec()
    assert d.exponents == ((DEFAULT_EXPONENT["mnas"],),)
    per_stage = spec(stages=3, targets={"latency": ["1ms", "2ms", "3ms"]},
                     exponents={"latency": {"below": [-0.1, -0.2, -0.3], "above": -1.0}})
    assert per_stage.exponents_below == ((-0.1, -0.2, -0.3),) and per_stage.exponents == ((-1.0,) * 3,)
    assert spec(form="auto").form == "mnas" and spec(form=None).form == "mnas"
    with pytest.raises(TndError, match="only the mnas form"):
        spec(form="soft", exponents={"latency": {"below": -0.1, "above": -1}})
    with pytest.raises(TndError, match="'below' and 'above'"):
        spec(exponents={"latency": {"under": -0.1}})
    with pytest.raises(TndError, match="one per stage"):
        spec(stages=3, exponents={"latency": {"below": [-0.1, -0.2]}})
    with pytest.raises(TndError, match="unknown form"):
        spec(form="linear")
    assert parse_exponent("-0.3") == -0.3 and parse_exponent("-0.07/-1") == {"below": -0.07, "above": -1.0}
    with pytest.raises(TndError, match="BELOW/ABOVE"):
        parse_exponent("-0.1/x")


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_non_positive_costs_are_errors_not_floored(bad):
    for s in (spec(), spec(form="soft"), spec(form="hard"), spec(form="sum"), spec(form="absolute")):
        with pytest.raises(TndError, match="latency of a network is"):
            s.reward(0.9, {"latency": bad}, 0)
    with pytest.raises(TndError, match="positive and finite"):
        soft_reward(0.9, {"params": bad}, {"params": 1.0}, {"params": -0.3})


def test_accuracy_scale_is_stated_and_applied():
    frac, pct = spec(), spec(accuracy="percent")
    assert pct.reward(0.9, {"latency": 2.0}, 0) == pytest.approx(100 * frac.reward(0.9, {"latency": 2.0}, 0))
    assert frac.to_dict()["accuracy_scale"] == "fraction" and frac.to_dict()["accuracy_range"] == [0.0, 1.0]
    assert pct.to_dict()["accuracy_scale"] == "percent"
    assert "fraction in [0, 1]" in frac.describe() and "percent" in pct.describe()
    assert "-0.07 below, -1 above" in frac.describe()
    assert frac.to_dict()["exponents_below"] == {"latency": [-0.07]}
    with pytest.raises(TndError, match="accuracy must be one of"):
        spec(accuracy="permille")


def series(form, members, stages=1):
    return [Preference(name, spec(form=form, targets=t, exponents=e, stages=stages)) for name, t, e in members]


def test_soft_members_differing_only_in_target_are_flagged():
    prefs = series("soft", [("small", {"latency": "0.5ms"}, {"latency": -0.5}),
                            ("large", {"latency": "2ms"}, {"latency": -0.5}),
                            ("steep", {"latency": "2ms"}, {"latency": -1.0})])
    pairs = equivalent_members(prefs)
    assert [(a, b) for a, b, _ in pairs] == [("small", "large")]
    assert "factor 0.5" in pairs[0][2] and "soft form" in pairs[0][2]
    assert "'small' and 'large' would run the same search" in equivalence_message(prefs)
    # the same for per-stage targets (the cifar10 preset's 6.4/5.4/4.4M are inert under soft)
    staged = series("soft", [("a", {"latency": ["6.4ms", "5.4ms", "4.4ms"]}, {"latency": [-0.45, -0.2, -0.25]}),
                             ("b", {"latency": "1ms"}, {"latency": [-0.45, -0.2, -0.25]})], stages=3)
    assert len(equivalent_members(staged)) == 1


def test_mnas_members_differing_in_target_are_not_flagged():
    prefs = series("mnas", [("small", {"latency": "0.5ms"}, {"latency": -0.5}),
                            ("large", {"latency": "2ms"}, {"latency": -0.5})])
    assert equivalent_members(prefs) == [] and equivalence_message(prefs) is None
    # ... unless their two exponents are equal: then mnas is the soft form again
    flat = series("mnas", [("small", {"latency": "0.5ms"}, {"latency": {"below": -0.3, "above": -0.3}}),
                           ("large", {"latency": "2ms"}, {"latency": {"below": -0.3, "above": -0.3}})])
    assert len(equivalent_members(flat)) == 1
    assert series("hard", [("a", {"latency": "0.5ms"}, {"latency": -1}), ("b", {"latency": "2ms"},
                                                                          {"latency": -1})]) and \
        equivalent_members(series("hard", [("a", {"latency": "0.5ms"}, {"latency": -1}),
                                           ("b", {"latency": "2ms"}, {"latency": -1})])) == []


def test_identical_and_sum_members():
    same = series("mnas", [("a", {"latency": "1ms"}, {}), ("b", {"latency": "1ms"}, {})])
    assert equivalent_members(same)[0][2] == "identical rewards"
    # in the weighted sum only w / T matters
    prefs = series("sum", [("a", {"latency": "1ms"}, {"latency": -0.1}), ("b", {"latency": "2ms"}, {"latency": -0.2}),
                           ("c", {"latency": "2ms"}, {"latency": -0.1})])
    assert [(a, b) for a, b, _ in equivalent_members(prefs)] == [("a", "b")]
    assert sum_reward(0.9, {"l": 2.0}, {"l": 1.0}, {"l": -0.1}) == pytest.approx(0.7)


def test_reinforce_cancels_a_reward_scale():
    """The premise of equivalent_members: R and k R give the same alpha trajectory under Adam + baseline."""
    def run(scale):
        alpha = torch.zeros(3, 4, dtype=torch.float64, requires_grad=True)
        alive = torch.ones(3, 4, dtype=torch.bool)
        opt = torch.optim.Adam([alpha], lr=0.05, betas=(0.5, 0.999), eps=1e-12)
        g, b = torch.Generator().manual_seed(0), None
        for _ in range(20):
            arms = [torch.multinomial(torch.softmax(alpha.detach(), -1), 1, generator=g).squeeze(-1)
                    for _ in range(6)]
            r = torch.tensor([scale * (0.5 + 0.1 * float(a.sum())) for a in arms], dtype=torch.float64)
            base = b if b is not None else float(r.mean())
            loss = reinforce_loss(torch.stack([log_prob(alpha, alive, a) for a in arms]), r, base)
            opt.zero_grad()
            loss.backward()
            opt.step()
            b = update_baseline(b, float(r.mean()), 0.95)
        return alpha.detach()

    one = run(1.0)
    assert one.abs().max() > 0.5                              # it learned something
    assert torch.allclose(one, run(0.37), atol=1e-9)


def test_help_texts_say_what_target_and_exponent_do_in_each_form():
    for form in ("mnas", "soft", "hard", "sum", "absolute"):
        assert form in REWARD_FORM_HELP
    assert "rescales" in TARGET_HELP and "mnas" in EXPONENT_HELP and "-0.07/-1" in EXPONENT_HELP
    assert math.isclose(DEFAULT_EXPONENT_BELOW, -0.07)


def test_absolute_reward_is_two_sided_and_pulls_to_the_target():
    # TuNAS (Bender et al. CVPR 2020): R = acc + w * |c / T - 1|
    t, w = {"lat": 2.0}, {"lat": -0.5}
    assert absolute_reward(0.9, {"lat": 2.0}, t, w) == pytest.approx(0.9)
    assert absolute_reward(0.9, {"lat": 3.0}, t, w) == pytest.approx(0.9 - 0.25)
    assert absolute_reward(0.9, {"lat": 1.0}, t, w) == pytest.approx(0.9 - 0.25)   # below the target costs too
    s = spec(form="absolute", targets={"latency": "2ms"})
    assert s.form == "absolute" and s.exponents == ((DEFAULT_EXPONENT["absolute"],),)
    assert s.reward(0.9, {"latency": 1.0}, 0) == pytest.approx(0.9 - 0.25)
    # each target pulls the choice to itself: among equally accurate networks the one nearest the target wins
    nets = {"fast": (0.90, 0.5), "mid": (0.90, 1.0), "slow": (0.90, 2.0)}
    for target, best in (("0.5ms", "fast"), ("1ms", "mid"), ("2ms", "slow")):
        sp = spec(form="absolute", targets={"latency": target})
        r = {n: sp.reward(a, {"latency": c}, 0) for n, (a, c) in nets.items()}
        assert max(r, key=r.get) == best
    # so members differing only in target are distinct searches, never flagged
    prefs = series("absolute", [("small", {"latency": "0.5ms"}, {"latency": -0.5}),
                                ("large", {"latency": "2ms"}, {"latency": -0.5})])
    assert equivalent_members(prefs) == []
    same = series("absolute", [("a", {"latency": "1ms"}, {}), ("b", {"latency": "1ms"}, {})])
    assert equivalent_members(same)[0][2] == "identical rewards"


def test_a_mnas_series_over_targets_alone_is_pointed_to_the_absolute_form():
    from tnd.search.reward import targets_only_hint

    only_targets = series("mnas", [("a", {"latency": "0.1ms"}, {}), ("b", {"latency": "0.2ms"}, {})])
    assert "--reward-form absolute" in targets_only_hint(only_targets)
    assert targets_only_hint(series("absolute", [("a", {"latency": "0.1ms"}, {}),
                                                 ("b", {"latency": "0.2ms"}, {})])) is None
    assert targets_only_hint(series("mnas", [("a", {"latency": "0.1ms"}, {"latency": -1}),
                                             ("b", {"latency": "0.2ms"}, {"latency": -2})])) is None
