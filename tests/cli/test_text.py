"""Text through every command a user would try: data info, train, eval, sample, reconstruct,
interpolate, anomaly, embed, report; the image-only commands and bad text end in one line."""

import csv
import json
import random
import re
from pathlib import Path

import pytest

from tests.cli.test_cli import vaekit
from tests.report.test_report import assert_shown, read_page
from vaekit.errors import VaekitError

SUBJECTS = ("the cat", "a dog", "my friend", "her king")
VERBS = ("sees", "likes", "calls")
OBJECTS = ("the moon", "a bird", "the river", "his horse")


def write_corpus(path: Path, n: int = 160, seed: int = 0) -> Path:
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        lines.append(f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} .")
        if i % 40 == 0:
            lines.append("")
    lines.append("this line is far too long to be kept for training with a max length of ten")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def text_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("text")
    data = write_corpus(folder / "corpus.txt")
    out = folder / "run"
    code = vaekit("train", "--data", data, "--epochs", "2", "--latent-dim", "4",
                  "--embed-dim", "16", "--rnn-hidden", "24", "--max-length", "10",
                  "--batch-size", "32", "--out", out, "--quiet")  # fmt: skip
    assert code == 0
    return out


def test_data_info_describes_the_corpus(tmp_path: Path, capsys):
    data = write_corpus(tmp_path / "c.txt")
    assert vaekit("data", "info", data, "--max-length", "10") == 0
    out = capsys.readouterr().out
    assert "161 non-blank lines" in out
    assert "dropped as longer than --max-length 10 tokens" in out
    assert "1 train, 0 test" in out or "0 train, 1 test" in out


def test_train_records_the_vocabulary_and_the_text_defaults(text_run: Path):
    config = json.loads((text_run / "config.json").read_text())
    model, training = config["model"], config["training"]
    assert (model["family"], model["likelihood"]) == ("rnn", "categorical")
    record = model["schema"]
    assert model["kind"] == "text" and record["tokens"][:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert "king" in record["tokens"] and record["max_length"] == 10
    assert record["word_dropout"] == 0.25 and record["language_model"] is False
    assert training["kl_warmup"] == 2000 and training["free_bits"] == 0.1  # text's defaults
    assert config["data"]["kind"] == "text" and model["shape"] == [1, 1, 11]
    assert sum(config["data"]["dropped_long"].values()) == 1
    assert {p.name for p in text_run.iterdir()} >= {"curves.png", "report.html"}


def test_eval_reports_per_word_nll_perplexity_and_kl(text_run: Path, capsys):
    assert vaekit("eval", text_run, "--iw-samples", "4", "--quiet") == 0
    out = capsys.readouterr().out
    assert "NLL per word" in out and "perplexity" in out and "KL per line" in out
    report = json.loads((text_run / "eval.json").read_text())
    text = report["text"]
    assert text["num_tokens"] == 7 * text["num_lines"]  # every line: 6 tokens and <eos>
    assert text["nll_per_word"] == pytest.approx(text["nll_per_line"] / 7)
    assert text["perplexity"] > 1 and text["kl_per_line"] == report["elbo"]["kl"]
    # A line's dimensions count padding: per word only, never per dimension.
    assert "nats/dim" not in out and f"({text['nll_per_word']:.4f} nats per word)" in out
    assert "nll_per_dim" not in report["iwae"] and "loss_per_dim" not in report["elbo"]
    # An eval.json written before holds them: it still renders, per word.
    from vaekit.cli.evaluate import render

    report["elbo"]["loss_per_dim"] = report["iwae"]["nll_per_dim"] = 0.5
    shown = render(report)
    assert "nats/dim" not in shown and f"{text['neg_elbo_per_word']:.4f} nats per word" in shown


def test_the_kl_note_says_collapse_only_under_one_nat_and_nothing_of_a_language_model():
    from vaekit.kinds.text.render import eval_lines, eval_rows

    text = {"nll_per_word": 3.0, "iw_samples": 4, "num_tokens": 70, "tokens_counted": "words",
            "perplexity": 20.0, "perplexity_elbo": 21.0}  # fmt: skip
    for kl, lm, note in ((100.93, False, ""), (0.4, False, "(under 1: posterior collapse)"),
                         (0.0, True, "(a language model: no latent)")):  # fmt: skip
        report = {"text": {**text, "kl_per_line": kl, "language_model": lm}}
        line = eval_lines(report)[-1]
        assert line.startswith("  KL per line") and line.endswith(f"nats   {note}".rstrip())
        assert eval_rows(report)[-1][3] == "nats" + (f"; {note[1:-1]}" if note else "")


def test_a_language_model_is_not_warned_of_posterior_collapse(tmp_path: Path, capsys):
    data = write_corpus(tmp_path / "corpus.txt")
    out = tmp_path / "lm"
    assert vaekit("train", "--data", data, "--epochs", "1", "--language-model", "--word-dropout",
                  "0", "--embed-dim", "8", "--rnn-hidden", "8", "--max-length", "10", "--out",
                  out, "--no-report", "--quiet") == 0  # fmt: skip
    said = capsys.readouterr().out
    assert "posterior collapse" not in said and "active units" not in said
    assert "no latent: the model is a language model" in said
    card = (out / "README.md").read_text()
    assert "latent dimensions" not in card  # the card: no collapse
    assert "It is a language model (--language-model)" in card
    # Another prior would give the model a KL, and a latent, after all.
    assert vaekit("train", "--data", data, "--epochs", "1", "--language-model", "--prior",
                  "mog", "--out", tmp_path / "lm-mog", "--quiet") == 1  # fmt: skip
    assert "--prior mog does not fit --language-model" in capsys.readouterr().err
    assert vaekit("eval", out, "--iw-samples", "2", "--quiet") == 0
    said = capsys.readouterr().out
    assert "(a language model: no latent)" in said and "posterior collapse" not in said
    assert json.loads((out / "eval.json").read_text())["warnings"] == []


def test_sample_reconstruct_interpolate_write_sentences(text_run: Path, tmp_path: Path, capsys):
    out = tmp_path / "s.txt"
    assert vaekit("sample", text_run, "-n", "5", "--decode", "sample", "-o", out) == 0
    assert len(out.read_text().splitlines()) == 5
    # a tiny temperature is greedy decoding (it divided logits into inf - inf: NaN)
    greedy = tmp_path / "g.txt"
    assert vaekit("sample", text_run, "-n", "3", "--seed", "1", "-o", greedy) == 0
    assert vaekit("sample", text_run, "-n", "3", "--seed", "1", "--decode", "sample",
                  "--temperature", "1e-39", "-o", out, "--overwrite") == 0  # fmt: skip
    assert out.read_text() == greedy.read_text()
    assert vaekit("sample", text_run, "-n", "3", "--decode", "beam", "--beam-width", "2",
                  "-o", out, "--overwrite") == 0  # fmt: skip
    assert len(out.read_text().splitlines()) == 3
    capsys.readouterr()
    assert vaekit("sample", text_run, "-n", "1000000000", "-o", tmp_path / "big.txt") == 1
    assert "at most 10000 sentences at once" in capsys.readouterr().err
    assert not (tmp_path / "big.txt").exists()
    rec = tmp_path / "r.csv"
    assert vaekit("reconstruct", text_run, "the cat sees Zebras .", "0", "-o", rec) == 0
    with rec.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["input"] == "the cat sees Zebras ."
    assert rows[0]["as_read"] == "the cat sees <unk> ."
    assert all(set(r) == {"input", "as_read", "reconstruction"} for r in rows)
    path = tmp_path / "i.txt"
    assert vaekit("interpolate", text_run, "--from", "a dog likes a bird .", "--to", "1",
                  "--steps", "4", "-o", path) == 0  # fmt: skip
    assert len(path.read_text().splitlines()) == 4
    assert "a dog likes a bird ." in capsys.readouterr().out


def test_anomaly_and_embed_write_a_row_per_line(text_run: Path, tmp_path: Path):
    lines = tmp_path / "mine.txt"
    lines.write_text("the cat sees the moon .\nmoon moon moon zyzzyva king the the\n")
    scores = tmp_path / "scores.csv"
    assert vaekit("anomaly", text_run, lines, "--score", "nll", "--iw-samples", "3",
                  "-o", scores) == 0  # fmt: skip
    with scores.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["line"] for r in rows] == lines.read_text().splitlines()
    assert [int(r["tokens"]) for r in rows] == [7, 8]
    # what was scored: the words the model knows, <unk> for the others ("zyzzyva")
    known = set(json.loads((text_run / "config.json").read_text())["model"]["schema"]["tokens"])
    assert [r["as_read"] for r in rows] == [
        " ".join(w if w in known else "<unk>" for w in r["line"].split()) for r in rows
    ]
    assert "<unk>" in rows[1]["as_read"]
    assert [r["input"] for r in rows] == [f"{lines}[0]", f"{lines}[1]"]
    # test-split indices as INPUTs are named by them, not by their places in the list (which
    # read as indices: test line 5 was written as 0)
    assert vaekit("anomaly", text_run, "5", "7", "-o", tmp_path / "i.csv") == 0
    assert vaekit("anomaly", text_run, "-o", tmp_path / "all.csv") == 0
    with (tmp_path / "i.csv").open(newline="") as f, (tmp_path / "all.csv").open() as g:
        given, every = list(csv.DictReader(f)), list(csv.DictReader(g))
    assert [r["input"] for r in given] == ["5", "7"]
    assert [r["line"] for r in given] == [every[5]["line"], every[7]["line"]]
    assert every[5]["index"] == "5"
    embedded = tmp_path / "z.csv"
    assert vaekit("embed", text_run, "-o", embedded) == 0
    with embedded.open(newline="") as f:
        header = next(csv.reader(f))
    assert header == ["line", "mean_0", "mean_1", "mean_2", "mean_3"]


def test_report_shows_sentences(text_run: Path, tmp_path: Path):
    assert vaekit("report", text_run) == 0
    page = read_page(text_run / "report.html")
    assert_shown(page, "sample-sentences", "reconstructions", "interpolation", "latent-map")
    assert "reconstruction" in page.sections["reconstructions"]  # its table's header
    assert vaekit("eval", text_run, "--iw-samples", "2", "--quiet") == 0
    assert vaekit("report", text_run) == 0
    page = (text_run / "report.html").read_text()
    assert "NLL per word" in page and "perplexity" in page and "KL per line" in page
    # what a word is, as eval says it; the train figures' dropped words, as they were measured
    assert re.search(r"nats \(IWAE, K=2; \d+ tokens: words and the end-of-line token\)", page)
    said = "train figures (not validation&#x27;s and test&#x27;s) with each of the decoder&#x27;s"
    assert said + " input words dropped" in page


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (("traverse", "{run}"), "vaekit traverse works on images; this run's model is of text"),
        (("denoise", "{run}"), "vaekit denoise works on images; this run's model is of text"),
        (("serve", "{run}"), "vaekit serve works on images; this run's model is of text"),
        (
            ("export", "{run}", "--format", "torchscript", "-o", "{tmp}/exp"),
            "vaekit export works on images; this run's model is of text",
        ),
        (
            ("interpolate", "{run}", "--from", "0", "--to", "1", "--method", "slerp"),
            "--method slerp and --npy are for images: text walks a straight line",
        ),
        (("anomaly", "{run}", "--score", "latent"), "text takes elbo or nll"),
        (
            ("train", "--data", "{run}/../corpus.txt", "--image-size", "8", "--out", "{tmp}/x"),
            "--image-size does not apply to text",
        ),
        (
            ("train", "--data", "digits", "--vocab-size", "8", "--out", "{tmp}/x"),
            "--vocab-size is for text (.txt data), and --data 'digits' is not text",
        ),
    ],
)
def test_what_text_cannot_do_is_one_line(text_run: Path, tmp_path: Path, capsys, command, message):
    args = [a.format(run=text_run, tmp=tmp_path) for a in command]
    assert vaekit(*args) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("vaekit: error:") and "\n" not in err and message in err, err
    assert not (tmp_path / "x").exists() and not (tmp_path / "exp").exists()


def test_a_bad_text_file_is_one_line_and_leaves_nothing(tmp_path: Path, capsys):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"na\xefve\nline two\nline three\n")
    out = tmp_path / "run"
    assert vaekit("train", "--data", bad, "--out", out, "--quiet") != 0
    err = capsys.readouterr().err.strip()
    assert "not UTF-8" in err and "\n" not in err and not out.exists()


@pytest.mark.parametrize("sentence", ["", "   "])
def test_an_empty_sentence_is_refused_as_input(text_run: Path, tmp_path: Path, capsys, sentence):
    out = tmp_path / "r.csv"
    assert vaekit("reconstruct", text_run, "a dog sees the moon .", sentence, "-o", out) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"vaekit: error: {sentence!r}: an empty sentence; a text input needs a word"
    assert not out.exists()


@pytest.mark.parametrize("command", ["reconstruct", "anomaly", "embed"])
def test_a_missing_file_or_a_folder_is_no_sentence(text_run, tmp_path, capsys, command):
    """A typo in a file's name must not be scored as the sentence 'missing.txt'."""
    out = tmp_path / "out.csv"
    assert vaekit(command, text_run, tmp_path / "missing.txt", "-o", out) == 1
    assert "missing.txt: no such file" in capsys.readouterr().err
    assert vaekit(command, text_run, f"{tmp_path}/", "-o", out) == 1
    assert "a folder; a text model takes sentences, .txt files" in capsys.readouterr().err
    (tmp_path / "rows.csv").write_text("a,b\n1,2\n")  # a file of another kind
    assert vaekit(command, text_run, tmp_path / "rows.csv", "-o", out) == 1
    assert "rows.csv: a file, not a .txt file" in capsys.readouterr().err
    assert not out.exists()


def test_an_empty_sentence_is_refused_as_an_end_of_interpolation(text_run, tmp_path, capsys):
    out = tmp_path / "i.txt"
    for ends in (["--from", "", "--to", "1"], ["--from", "0", "--to", ""]):
        assert vaekit("interpolate", text_run, *ends, "-o", out) == 1
        assert "'': an empty sentence" in capsys.readouterr().err
    assert not out.exists()


def test_resume_continues_a_text_run_and_holds_its_text_options(tmp_path: Path, capsys):
    data = write_corpus(tmp_path / "c.txt", n=60)
    out = tmp_path / "run"
    tiny = ("--latent-dim", "2", "--embed-dim", "8", "--rnn-hidden", "8", "--quiet",
            "--no-report")  # fmt: skip
    assert vaekit("train", "--data", data, "--epochs", "1", "--out", out, *tiny) == 0
    assert vaekit("train", "--out", out, "--resume", "--epochs", "2", "--word-dropout",
                  "0.5") != 0  # fmt: skip
    assert "--word-dropout 0.5 differs from the run's 0.25" in capsys.readouterr().err
    assert vaekit("train", "--out", out, "--resume", "--epochs", "2", "--quiet") == 0
    epochs = [json.loads(line).get("epoch") for line in (out / "metrics.jsonl").open()]
    assert epochs[:2] == [1, 2]


def test_eval_progress_counts_lines_not_images(text_run: Path, tmp_path: Path, capsys):
    assert vaekit("eval", text_run, "--iw-samples", "2", "--json", tmp_path / "e.json") == 0
    bar = capsys.readouterr().err
    assert "evaluating (K=2)" in bar and ("line/s" in bar or "s/line" in bar), bar
    assert "img" not in bar, bar


def test_decoding_progress_counts_lines_not_images(text_run: Path, tmp_path: Path, capsys):
    assert vaekit("sample", text_run, "-n", "3", "--decode", "beam", "-o", tmp_path / "s.txt") == 0
    bar = capsys.readouterr().err
    assert "beam search" in bar and "img" not in bar and "line" in bar, bar


def test_decoding_options_that_the_chosen_decoding_ignores_are_refused(text_run, tmp_path, capsys):
    out = tmp_path / "s.txt"
    assert vaekit("sample", text_run, "-n", "2", "--temperature", "0.5", "-o", out) == 1
    assert "--temperature is for --decode sample (this is --decode greedy)" in (
        capsys.readouterr().err
    )
    assert vaekit("sample", text_run, "-n", "2", "--beam-width", "3", "-o", out) == 1
    assert "--beam-width is for --decode beam" in capsys.readouterr().err
    assert vaekit("reconstruct", text_run, "0", "--beam-width", "3", "-o", tmp_path / "r.csv") == 1
    assert not out.exists()
    assert vaekit("sample", text_run, "-n", "2", "--decode", "beam", "--beam-width", "3",
                  "-o", out) == 0  # fmt: skip


def test_encode_lines_takes_a_list_of_sentences(text_run: Path):
    import vaekit as api

    model = api.load(text_run)
    assert model.encode_lines(["a dog sees the moon ."]).shape[0] == 1
    for wrong in ("cat", [3], ["a dog", None]):  # "cat" was three one-letter sentences
        with pytest.raises(VaekitError, match="expected a list of sentences, each a str"):
            model.encode_lines(wrong)


def test_a_line_scores_the_same_in_any_file_and_other_text_is_scored_whole(text_run, tmp_path):
    """A line's anomaly score was keyed by its place in the input (the same line scored 30.8
    and 30.2 nats in two files); `--data` of text mostly outside the run's vocabulary, the
    out-of-domain case, was refused with a training-time message (--vocab-size); "²" (a
    digit to str.isdigit) was taken for a test-split index; a form feed cut a line in two."""
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("the cat sees the moon .\nthe king sees a dog .\n")
    b.write_text("a dog sees the king .\nthe king sees a dog .\nthe cat sees the moon .\n")
    scored = {}
    for name in (a, b):
        out = tmp_path / f"{name.stem}.csv"
        assert vaekit("anomaly", text_run, name, "-o", out, "--score", "nll",
                      "--iw-samples", "5", "--quiet") == 0  # fmt: skip
        with out.open(newline="") as f:
            scored[name.stem] = {r["line"]: r["nll_iw5"] for r in csv.DictReader(f)}
    for line in ("the cat sees the moon .", "the king sees a dog ."):
        assert scored["a"][line] == scored["b"][line]
    other = tmp_path / "other.txt"
    other.write_text("".join(f"lorem ipsum dolor sit amet {i} .\n" for i in range(30)))
    assert vaekit("anomaly", text_run, "--data", other, "-o", tmp_path / "o.csv",
                  "--quiet") == 0  # fmt: skip
    with (tmp_path / "o.csv").open(newline="") as f:
        assert len(list(csv.DictReader(f))) == 3  # its test split: a tenth of its 30 lines
    assert vaekit("reconstruct", text_run, "²", "-o", tmp_path / "r.csv", "--quiet") == 0
    odd = tmp_path / "ff.txt"
    odd.write_text("the cat\x0csees the moon .\nthe king\u2028sees a dog .\nthe dog .\n")
    from vaekit.kinds.text.data_vocab import read_lines

    assert read_lines(odd) == ["the cat\x0csees the moon .", "the king\u2028sees a dog .",
                               "the dog ."]  # fmt: skip


def test_a_lines_reconstruction_error_is_its_tokens_nll(text_run):
    """-log p(x | E_q[z|x]): positive, and larger for lines of random words than for lines
    like those the model learnt (with the sign flipped, `anomaly --score recon` ranked them
    the other way round)."""
    import torch

    from vaekit.api.inputs import Inputs
    from vaekit.api.model import load

    model = load(text_run)
    lines = Inputs(model).test.images[:16]
    random = lines.clone()
    words = random[:, 0, 0, 1:4]  # after <bos>: three random words of the vocabulary
    specials = 4  # <pad>, <bos>, <eos>, <unk>
    vocab = len(model.schema.tokens)
    generator = torch.Generator().manual_seed(0)
    random[:, 0, 0, 1:4] = torch.randint(specials, vocab, words.shape, generator=generator)
    with torch.no_grad():
        learnt, noise = (model.vae.reconstruction_error(t) for t in (lines, random))
    assert (learnt > 0).all() and float(noise.mean()) > float(learnt.mean())


def test_lines_of_token_ids_score_as_sentences_do_and_malformed_ones_are_refused(text_run):
    """nll_per_word read a (B, T) batch (what `sample` returns) as B lines of one token
    (3.07 nats a line where the model gives 35); the CLI's -ELBO was one draw where the
    detector's is eight (20.10 against 20.30 for one line); ids of no line (all <pad>, no
    <eos>) scored as the KL alone, the most normal line of all."""
    import numpy as np
    import torch

    from vaekit.api.anomaly import AnomalyDetector
    from vaekit.api.model import load
    from vaekit.kinds.text.apps import nll_per_word

    model = load(text_run)
    lines = model.encode_lines(["the cat sat on the mat .", "a dog ran ."])
    flat = lines.reshape(2, -1)
    total, _ = nll_per_word(model.vae, lines)
    torch.testing.assert_close(nll_per_word(model.vae, flat)[0], total)
    detector = AnomalyDetector(model, "elbo").fit()
    np.testing.assert_allclose(detector.decision_function(lines), total.numpy(), rtol=1e-5)
    for broken in (torch.zeros_like(flat[:1]),  # all <pad>
                   flat[:1].where(flat[:1] != 2, torch.zeros(())),  # <eos> dropped
                   torch.cat([torch.ones(1, 1), flat[:1, :-1]], 1)):  # <bos> first  # fmt: skip
        with pytest.raises(VaekitError, match="of the token indices is not one"):
            model.prepare(broken)
    assert model.prepare(flat).shape == lines.shape


def test_the_python_apps_take_a_sentence_as_the_command_line_does(text_run):
    """apps.interpolate and apps.embed refused "the cat sat ." as "neither a test-split index
    nor an existing file", where `vaekit embed RUN "the cat sat ."` takes it."""
    import torch

    from vaekit.api import apps
    from vaekit.api.model import load

    model = load(text_run)
    sentence = "the cat sat on the mat ."
    embedded = apps.embed(model, inputs=[sentence, "0"])
    torch.testing.assert_close(
        embedded["mean"][:1], model.encode(model.encode_lines([sentence])).mean
    )
    assert len(apps.interpolate(model, sentence, "0", steps=3)) == 3
    with pytest.raises(VaekitError, match="an empty sentence"):
        apps.embed(model, inputs=["   "])
    assert apps.embed(model, inputs=[" ".join(["the cat sat ."] * 80)])["mean"].shape[0] == 1
