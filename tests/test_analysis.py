"""The prediction analysis on fixtures with known answers, and each written-part claim."""
import itertools
import subprocess
import sys

import pytest

import analyze
import attention_copying
import multihead_variance
import permutation
import rope_properties
from conftest import ROOT


@pytest.fixture
def fixture_files(tmp_path):
    (tmp_path / "wiki.txt").write_text("\n".join([
        "Ada Moss. Ada Moss was born in Paris.",
        "John F. Kennedy. John F. Kennedy was born in Brookline.",
        "Bo Nash. Bo Nash, a cook.",
        "Cy Orr. Cy Orr was born in Lima.",
    ]), encoding="utf-8")
    (tmp_path / "dev.tsv").write_text("Where was Ada Moss born?\tParis\nWhere was John F. Kennedy born?\tBrookline\n"
                                      "Where was Bo Nash born?\tLondon\nWhere was Cy Orr born?\tLima\n")
    (tmp_path / "a.predictions").write_text("Paris\nLondon\nLondon\nLondon\n")
    (tmp_path / "b.predictions").write_text("Paris\nBrookline\nParis\nLima\n")
    return tmp_path


def test_analyze_known_answers(fixture_files, capsys):
    d = fixture_files
    assert analyze.main(["--eval_corpus_path", str(d / "dev.tsv"), "--wiki", str(d / "wiki.txt"),
                         "--predictions", str(d / "a.predictions"), str(d / "b.predictions")]) == 0
    out = capsys.readouterr().out
    assert "4 questions; 4 people found" in out and "occurs in the document for 3 of them" in out
    assert "accuracy 50.0% (2 of 4); London baseline 25.0%" in out  # a: Paris and London right
    assert "accuracy 75.0% (3 of 4); London baseline 25.0%" in out  # b: all but Bo Nash
    assert "in the person's wiki document:    3 lines, accuracy  33.3%" in out  # a on in-document lines
    assert "not in the person's wiki document:    1 lines, accuracy 100.0%" in out
    assert "London                        3 ( 60.0%)" not in out
    assert "London                      3 ( 75.0%)" in out  # a's default guess
    assert "same prediction on 1 lines; both correct 1, only the first 1, only the second 2" in out
    # guessing level: sum over places of predicted count x gold count / 4 (a: 1x1 Paris + 3x1 London)
    assert "would be right on 1.0 (25.0%); 1.0 lines beyond it" in out  # a
    assert "would be right on 1.0 (25.0%); 2.0 lines beyond it" in out  # b: 2x1 Paris + Brookline + Lima


def test_guessing_level_is_the_mean_of_shuffled_predictions():
    places = ["A", "B", "B", "D"]
    predictions = ["A", "A", "B", "C"]
    shuffles = [sum(p == g for p, g in zip(order, places)) for order in itertools.permutations(predictions)]
    assert analyze.guessing_level(predictions, places) == sum(shuffles) / len(shuffles) == 1.0
    assert analyze.guessing_level(["London"] * 4, ["London", "Paris", "London", "Rome"]) == 2.0  # all guessing
    assert analyze.guessing_level(places, places) == (1 + 4 + 1) / 4  # a perfect model guesses 1.5 of its 4


def test_analyze_finds_the_real_dev_documents(capsys):
    questions = (ROOT / "birth_dev.tsv").read_text(encoding="utf-8").splitlines()
    predictions = [line.split("\t")[1] for line in questions]  # a perfect model
    from utils import read_eval_file
    qs, places = read_eval_file(ROOT / "birth_dev.tsv")
    documents = analyze.find_documents([analyze.person(q) for q in qs],
                                       (ROOT / "wiki.txt").read_text(encoding="utf-8").split("\n"))
    result = analyze.analyse("perfect", predictions, places, documents)
    assert all(d is not None for d in documents)
    assert sum(result.in_document) == 479  # SPEC: each dev place occurs in 479 of 500 documents
    assert result.accuracy == 100.0


def test_analyze_bad_input(fixture_files, capsys):
    d = fixture_files
    (d / "short.predictions").write_text("Paris\n")
    assert analyze.main(["--eval_corpus_path", str(d / "dev.tsv"), "--wiki", str(d / "wiki.txt"),
                         "--predictions", str(d / "short.predictions")]) == 1
    assert "has 1 predictions for 4 questions" in capsys.readouterr().err


def test_analyze_charts(fixture_files, capsys):
    pytest.importorskip("matplotlib")
    d = fixture_files
    analyze.main(["--eval_corpus_path", str(d / "dev.tsv"), "--wiki", str(d / "wiki.txt"),
                  "--predictions", str(d / "a.predictions"), "--charts", str(d / "charts")])
    assert (d / "charts" / "accuracy.png").stat().st_size > 1000


def test_copying_and_averaging():
    *_, (scale, alpha_j, distance) = attention_copying.copying()
    assert alpha_j > 0.999 and distance < 1e-6
    assert attention_copying.copying(scales=(0.5,))[0][1] < 0.5, "a small query spreads its attention"
    *_, (scale, alpha_a, alpha_b, distance) = attention_copying.averaging()
    assert alpha_a == pytest.approx(0.5, abs=1e-6) and alpha_b == pytest.approx(0.5, abs=1e-6) and distance < 1e-6


def test_two_heads_reduce_the_variance():
    single, multi, v_a, v_b = multihead_variance.sample_outputs(samples=2000)
    assert multihead_variance.total_variance(multi) < multihead_variance.total_variance(single) / 5
    target = (v_a + v_b) / 2
    assert (multi - target).norm(dim=1).mean() < (single - target).norm(dim=1).mean() / 3


def test_permutation_equivariance_and_positions():
    without, with_positions = permutation.equivariance_errors()
    assert without < 1e-10 and with_positions > 1e-3
    assert permutation.closest_positions(512, 256) > 0.1, "no two positions share an embedding"


def test_rope_forms_and_relative_scores():
    complex_vs_matrix, ours_vs_matrix = rope_properties.forms_differ()
    assert complex_vs_matrix < 1e-12 and ours_vs_matrix < 1e-5
    scores = rope_properties.scores_by_offset()
    assert rope_properties.relative_spread(scores) < 1e-4 < (scores.max() - scores.min()).item()


@pytest.mark.parametrize("script", ["attention_copying", "multihead_variance", "permutation", "rope_properties"])
def test_scripts_print_their_finding(script, capsys):
    sys.modules[script].main()
    assert "finding:" in capsys.readouterr().out


def test_analyze_compares_files_side_by_side(tmp_path, capsys):
    import analyze
    dev = (ROOT / "birth_dev.tsv").read_text(encoding="utf-8").splitlines()
    places = [line.split("\t")[1] for line in dev]
    first = places[:10] + ["London"] * (len(places) - 10)  # right on the first ten people
    second = ["London"] * 5 + places[5:20] + ["London"] * (len(places) - 20)
    # long names that differ only in the middle (as run names do) stay whole and distinct
    a, b = (tmp_path / f"rope_batch32_epochs{n}_augmented_seed0_finetuned.dev.predictions" for n in (60, 120))
    a.write_text("".join(p + "\n" for p in first), encoding="utf-8")
    b.write_text("".join(p + "\n" for p in second), encoding="utf-8")
    assert analyze.main(["--eval_corpus_path", str(ROOT / "birth_dev.tsv"), "--wiki", str(ROOT / "wiki.txt"),
                         "--predictions", str(a), str(b), "--examples", "2"]) == 0
    out = capsys.readouterr().out
    assert "== side by side" in out and "in doc" in out
    rows = out.split("== side by side")[1].split("== agreement")[0].splitlines()
    for path, guesses in [(a, first), (b, second)]:
        accuracy = 100.0 * sum(g == p for g, p in zip(guesses, places)) / len(places)
        assert any(row.strip().startswith(f"{path} ") and f"{accuracy:5.1f}%" in row for row in rows)
    only_first = [analyze.person(line.split("\t")[0]) for line in dev[:5] if line.split("\t")[1] != "London"]
    assert f"right only the first: {only_first[0]}, {only_first[1]}" in out


def test_analyze_piped_into_head_ends_quietly(fixture_files):
    d = fixture_files
    command = (f"{sys.executable} {ROOT / 'src' / 'analyze.py'} --eval_corpus_path {d / 'dev.tsv'} "
               f"--wiki {d / 'wiki.txt'} --predictions {' '.join([str(d / 'a.predictions')] * 40)} | head -1")
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
    assert result.stdout.startswith("4 questions;")
    assert result.stderr == ""
