"""The sentence VAE: its likelihood against a hand computation, the importance-weighted
bound, word dropout, the decoders (greedy, sampled, beam) and the language-model baseline."""

import itertools
import math

import pytest
import torch
from torch.distributions import Categorical

from vaekit.data.batches import ImageSet
from vaekit.errors import VaekitError
from vaekit.evaluation.evaluate import EvalConfig, evaluate_vae
from vaekit.kinds.text.data_vocab import BOS, EOS, PAD, UNK, build_vocabulary
from vaekit.kinds.text.model import tokens_of, word_dropout
from vaekit.kinds.text.model_decoding import (
    beam_search,
    decoder_inputs,
    greedy,
    line_log_prob,
    sample,
)
from vaekit.models.factory import ModelConfig, build_vae

WORDS = "a b c"


def tiny(max_length: int = 4, language_model: bool = False, seed: int = 0, z: int = 3):
    vocab = build_vocabulary([WORDS], 10, max_length)
    text = {**vocab.to_json(), "embed_dim": 5, "rnn_hidden": 7, "word_dropout": 0.0,
            "language_model": language_model}  # fmt: skip
    torch.manual_seed(seed)
    config = ModelConfig.create((1, 1, max_length + 1), family="rnn", likelihood="categorical",
                                latent_dim=z, kind="text", schema=text)  # fmt: skip
    return build_vae(config).eval(), vocab


def lines(vocab, *sentences):
    return torch.from_numpy(vocab.rows([vocab.encode(s) for s in sentences]))


def hand_log_prob(vae, z: torch.Tensor, line: list[int]) -> float:
    """log p(line | z), one token at a time: Categorical log-probs of the words and <eos>."""
    dec = vae.decoder
    state, token, total = dec.start(z[None]), torch.tensor([[BOS]]), 0.0
    for target in line:
        logits, state = dec.run(token, z[None], state)
        total += float(Categorical(logits=logits[0, -1]).log_prob(torch.tensor(target)))
        if target == EOS:
            return total
        token = torch.tensor([[target]])
    raise AssertionError("no <eos>")


def test_log_likelihood_equals_the_sum_of_the_tokens_categoricals():
    vae, vocab = tiny()
    x = lines(vocab, "a b c", "c", "b a")
    eps = torch.zeros(3, 1, vae.latent_dim)  # z at the posterior mean
    with torch.no_grad():
        log_px = vae.terms(x, eps).log_px[:, 0]
        means = vae.posterior_mean(x)
    for i in range(3):
        row = [int(t) for t in x[i].flatten()]
        assert float(log_px[i]) == pytest.approx(hand_log_prob(vae, means[i], row), abs=1e-4)


def test_eval_per_word_nll_of_the_language_model_is_the_exact_one():
    vae, vocab = tiny(language_model=True)
    x = lines(vocab, "a b c", "c", "b a", "a")
    data = ImageSet(x, None, 1.0, pixels="text")
    report, _ = evaluate_vae(vae, data, EvalConfig(iw_samples=3, batch_size=2, chunk=2))
    zero = torch.zeros(vae.latent_dim)
    total = -sum(hand_log_prob(vae, zero, [int(t) for t in row.flatten()]) for row in x)
    from vaekit.kinds.text.evaluate import per_word

    text = per_word(report, data)
    assert report["elbo"]["kl"] == 0 and report["kind"] == "log-likelihood"
    assert text["num_tokens"] == 3 + 1 + 2 + 1 + 4  # words, and an <eos> per line
    assert text["nll_per_word"] == pytest.approx(total / 11, rel=1e-5)
    assert text["perplexity"] == pytest.approx(math.exp(total / 11), rel=1e-5)
    assert text["nll_per_line"] == pytest.approx(total / 4, rel=1e-5)


def test_the_importance_weighted_bound_is_above_the_elbo_and_meets_it_as_the_weights_settle():
    """With q(z|x) = p(z) the log-weights are log p(x|z): as the decoder's dependence on z
    shrinks (scaled by alpha), so does their variance, and L_K comes down to the ELBO."""
    vae, vocab = tiny(seed=1, z=4)
    x = lines(vocab, "a b c", "c b")
    eps = torch.randn(2, 200, vae.latent_dim, generator=torch.Generator().manual_seed(0))
    z = vae.latent_dim
    with torch.no_grad():
        vae.encoder.out.weight.zero_()  # q(z|x) = N(0, I) = p(z)
        vae.encoder.out.bias.zero_()
        vae.decoder.init.weight.mul_(8)  # a decoder that leans on z
        vae.decoder.rnn.weight_ih_l0[:, -z:].mul_(8)
    init, inputs = vae.decoder.init.weight.clone(), vae.decoder.rnn.weight_ih_l0[:, -z:].clone()
    gaps = []
    for alpha in (1.0, 0.1, 0.001):
        with torch.no_grad():
            vae.decoder.init.weight.copy_(alpha * init)
            vae.decoder.rnn.weight_ih_l0[:, -z:] = alpha * inputs
            log_w = vae.terms(x, eps).log_w
        gaps.append(torch.logsumexp(log_w, 1) - math.log(log_w.shape[1]) - log_w.mean(1))
    assert all((g >= -1e-5).all() for g in gaps)
    assert (gaps[0] > gaps[1]).all() and (gaps[1] > gaps[2]).all()
    assert (gaps[0] > 1e-2).all() and (gaps[2] < 1e-4).all()


def test_the_bounds_vaekit_reports_for_text_are_the_log_mean_exp_of_its_log_weights():
    """Eval's bound (importance_terms, with its keyed noise) and the training loss with K
    samples are log (1/K) sum_k w_k of the log-weights of the same draws: checked here
    against those log-weights, summed by hand."""
    from vaekit.models.importance import importance_terms, sample_noise
    from vaekit.models.vae import Objective

    vae, vocab = tiny(seed=1, z=4)
    x = lines(vocab, "a b c", "c b")
    indices, k = torch.tensor([3, 7]), 50
    eps = sample_noise(0, indices, 0, k, vae.latent_dim)  # the draws eval makes for them
    with torch.no_grad():
        log_w = vae.terms(x, eps).log_w
        want = torch.logsumexp(log_w, 1) - math.log(k)
        scored = importance_terms(vae, x, indices, k, seed=0).log_likelihood
        trained = vae.loss(x, eps=eps, objective=Objective(iw_samples=k)).loss
    torch.testing.assert_close(scored, want, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(trained, -want, atol=1e-4, rtol=1e-5)


def test_word_dropout_replaces_words_at_the_rate_and_never_bos_eos_or_pad():
    tokens = torch.full((400, 30), 5)
    tokens[:, 20] = EOS
    tokens[:, 21:] = PAD
    dropped = word_dropout(tokens, 0.3, torch.Generator().manual_seed(0))
    words = dropped[:, :20]
    assert set(words.unique().tolist()) == {5, UNK}
    assert (words == UNK).float().mean().item() == pytest.approx(0.3, abs=0.02)
    assert (dropped[:, 20:] == tokens[:, 20:]).all()
    assert (decoder_inputs(dropped)[:, 0] == BOS).all()
    assert (word_dropout(tokens, 0.0) == tokens).all()


def test_word_dropout_changes_only_the_training_loss():
    vae, vocab = tiny()
    vae.word_dropout = 0.5
    x = lines(vocab, "a b c", "b c a", "c c c")
    eps = torch.zeros(3, 1, vae.latent_dim)
    evaluated = vae.loss(x, eps=eps).loss
    vae.train()
    trained = vae.loss(x, torch.Generator().manual_seed(0), eps=eps).loss
    assert not torch.allclose(trained, evaluated)
    vae.word_dropout = 0.0
    assert torch.allclose(vae.loss(x, eps=eps).loss, evaluated)


def test_beam_of_width_one_is_greedy_and_a_wide_beam_finds_the_most_probable_line():
    vae, vocab = tiny(max_length=3, seed=2)
    z = torch.randn(6, vae.latent_dim, generator=torch.Generator().manual_seed(3)) * 2
    assert torch.equal(beam_search(vae.decoder, z, 1), greedy(vae.decoder, z))
    # every line of at most 3 words over the 7 tokens a decoder may emit (no <pad>, <bos>)
    emit = [i for i in range(len(vocab)) if i not in (PAD, BOS, EOS)]
    every = [list(w) for n in range(4) for w in itertools.product(emit, repeat=n)]
    rows = torch.full((len(every), 4), PAD, dtype=torch.long)
    for i, w in enumerate(every):
        rows[i, : len(w)] = torch.tensor(w, dtype=torch.long)
        rows[i, len(w)] = EOS
    beam = beam_search(vae.decoder, z, len(every))
    found = line_log_prob(vae.decoder, z, beam)
    for i in range(len(z)):
        best = line_log_prob(vae.decoder, z[i : i + 1].expand(len(rows), -1), rows).max()
        assert float(found[i]) == pytest.approx(float(best), abs=1e-5)
        greedy_score = line_log_prob(vae.decoder, z[i : i + 1], greedy(vae.decoder, z[i : i + 1]))
        assert float(found[i]) >= float(greedy_score[0]) - 1e-6


def test_decoding_stops_at_the_end_token_and_lines_stay_valid():
    vae, vocab = tiny(max_length=5, seed=4)
    z = torch.randn(50, vae.latent_dim, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    for out in (greedy(vae.decoder, z), sample(vae.decoder, z, g, 2.0),
                beam_search(vae.decoder, z[:5], 3)):  # fmt: skip
        assert out.shape[1] == 6
        assert ((out == EOS).sum(1) == 1).all()  # one <eos> in each, the last at the latest
        end = (out == EOS).long().argmax(1)
        after = torch.arange(6)[None] > end[:, None]
        assert (out[after] == PAD).all() and not (out[~after] == PAD).any()
        assert not (out == BOS).any()
    with torch.no_grad():  # a decoder that always prefers <eos>: empty lines
        vae.decoder.out.bias[EOS] = 100.0
    assert (greedy(vae.decoder, z)[:, 0] == EOS).all()
    assert vocab.decode(greedy(vae.decoder, z)[0]) == ""


def test_language_model_has_no_latent():
    vae, vocab = tiny(language_model=True)
    x = lines(vocab, "a b", "c")
    with torch.no_grad():
        one = vae.terms(x, torch.zeros(2, 1, vae.latent_dim))
        other = vae.terms(x, torch.randn(2, 1, vae.latent_dim) * 3)
    assert torch.equal(one.kl_dims, torch.zeros_like(one.kl_dims))
    assert torch.allclose(one.log_px, other.log_px)
    assert tokens_of(x).shape == (2, 5)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tokens": ["a", "b"]}, "tokens must be distinct strings"),
        ({"embed_dim": 0}, "embed_dim"),
        ({"word_dropout": 1.5}, "word_dropout"),
        ({"word_dropout": 1}, "word_dropout must be a number in \\[0, 1\\)"),  # every word out
        ({"rnn_hidden": True}, "rnn_hidden must be an integer"),
        ({"language_model": 1}, "language_model must be true or false"),
        ({"extra": 1}, "unknown key 'extra'"),
    ],
)
def test_a_bad_text_record_is_refused(change, message):
    vocab = build_vocabulary([WORDS], 10, 4)
    text = {**vocab.to_json(), "embed_dim": 5, "rnn_hidden": 7, "word_dropout": 0.0,
            "language_model": False, **change}  # fmt: skip
    config = ModelConfig.create((1, 1, 5), family="rnn", likelihood="categorical", kind="text",
                                schema=text)  # fmt: skip
    with pytest.raises(VaekitError, match=message):
        config.validate()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"prior": "vamp"}, "--prior vamp does not fit text"),
        ({"flow_steps": 1}, "--flow-steps does not fit text"),
        ({"autoregressive": 1}, "--autoregressive does not fit text"),
        ({"num_classes": 2}, "--conditional does not fit text"),
    ],
)
def test_a_text_model_refuses_what_does_not_fit_it(option, message):
    vocab = build_vocabulary([WORDS], 10, 4)
    text = {**vocab.to_json(), "embed_dim": 5, "rnn_hidden": 7, "word_dropout": 0.0,
            "language_model": False}  # fmt: skip
    config = ModelConfig.create((1, 1, 5), family="rnn", likelihood="categorical", kind="text",
                                schema=text, **option)  # fmt: skip
    with pytest.raises(VaekitError, match=message):
        config.validate()


def test_a_token_index_past_the_vocabulary_is_refused():
    from vaekit.kinds.text.model import prepare

    vocab = build_vocabulary([WORDS], 10, 4)
    line = torch.tensor([[len(vocab) - 1, EOS, PAD, PAD, PAD]])
    assert prepare(line, (1, 1, 5), vocab, 1.0).shape == (1, 1, 1, 5)
    with pytest.raises(VaekitError, match=f"token indices must be integers in 0..{len(vocab) - 1}"):
        prepare(line + torch.tensor([[1, 0, 0, 0, 0]]), (1, 1, 5), vocab, 1.0)


def test_the_vocabulary_comes_from_the_lines_training_keeps():
    """A line longer than --max-length is dropped from training: its words are not counted
    (one enormous line made the test split's unknown share fall from 20% to 1%)."""
    vocab = build_vocabulary(["a b", "a c", "x y z w v u"], 10, 4)
    assert vocab.tokens[4:] == ("a", "b", "c")
