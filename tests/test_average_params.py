"""bench/average_params.py: weight-space averages (WiSE-FT, model soups) of params files."""
import pytest
import torch

import average_params
import run
from conftest import small_model
from starter_model import StarterGPT


def saved(path, model):
    torch.save(model.state_dict(), path)
    return path


def two_rope_models():
    torch.manual_seed(1)
    a = small_model(20, rope=True)
    torch.manual_seed(2)
    b = small_model(20, rope=True)
    return a, b


def test_the_average_is_the_weighted_sum_and_shared_buffers_stay_exact(tmp_path, capsys):
    a, b = two_rope_models()
    out = tmp_path / "wise.params"
    code = average_params.main([str(out), str(saved(tmp_path / "a", a)), str(saved(tmp_path / "b", b)),
                                "--weights", "7,3"])
    assert code == 0
    assert "0.7" in capsys.readouterr().out
    averaged, first, second = torch.load(out, weights_only=True), a.state_dict(), b.state_dict()
    assert averaged.keys() == first.keys()
    weight = "blocks.0.attn.key.weight"
    assert torch.allclose(averaged[weight], 0.7 * first[weight] + 0.3 * second[weight])
    assert not torch.equal(averaged[weight], first[weight])
    for key in first:  # the RoPE cache and the causal mask, equal in both files, are copied bit for bit
        if key.endswith(("rope_cache", "mask")):
            assert torch.equal(averaged[key], first[key]), key


def test_equal_weights_by_default_and_an_average_of_three(tmp_path):
    models = [small_model(20) for _ in range(3)]
    paths = [str(saved(tmp_path / f"{i}.params", m)) for i, m in enumerate(models)]
    assert average_params.main([str(tmp_path / "soup.params"), *paths]) == 0
    soup = torch.load(tmp_path / "soup.params", weights_only=True)
    key = "tok_emb.weight"
    expected = sum(m.state_dict()[key] for m in models) / 3
    assert torch.allclose(soup[key], expected, atol=1e-6)


def test_the_result_loads_in_the_assignments_model_and_in_ours(tmp_path):
    a, b = two_rope_models()
    out = tmp_path / "avg.params"
    assert average_params.main([str(out), str(saved(tmp_path / "a", a)), str(saved(tmp_path / "b", b))]) == 0
    state = torch.load(out, weights_only=True)
    StarterGPT(a.config).load_state_dict(state)  # strictly: the assignment's names and shapes
    model = small_model(20, rope=True)
    run.checkpoint.load_params(model, out)
    with torch.no_grad():
        x = torch.randint(0, 20, (2, 16))
        assert torch.isfinite(model(x)[0]).all()


def test_weight_one_gives_that_file_back(tmp_path):
    a, b = two_rope_models()
    out = tmp_path / "same.params"
    assert average_params.main([str(out), str(saved(tmp_path / "a", a)), str(saved(tmp_path / "b", b)),
                                "--weights", "0,1"]) == 0
    averaged = torch.load(out, weights_only=True)
    assert all(torch.equal(averaged[key], value) for key, value in b.state_dict().items())


@pytest.mark.parametrize("weights, message", [
    ("1", "gives 1 weight"), ("a,b", "numbers separated by commas"), ("1,-1", "0 or more"),
    ("0,0", "not all 0"), ("nan,1", "finite"), ("inf,1", "finite"),
])
def test_bad_weights_are_one_line(tmp_path, capsys, weights, message):
    a, b = two_rope_models()
    out = tmp_path / "out.params"
    code = average_params.main([str(out), str(saved(tmp_path / "a", a)), str(saved(tmp_path / "b", b)),
                                "--weights", weights])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and message in err, err
    assert not out.exists()


def test_files_that_cannot_be_averaged_are_one_line(tmp_path, capsys):
    rope, _ = two_rope_models()
    rope_path, vanilla_path = saved(tmp_path / "rope", rope), saved(tmp_path / "vanilla", small_model(20))
    wider_path = saved(tmp_path / "wider", small_model(20, n_embd=64))
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"not a checkpoint")
    cases = [
        ([rope_path], "two or more"),
        ([rope_path, vanilla_path], "different entries"),
        ([vanilla_path, wider_path], "shape"),
        ([rope_path, garbage], "not a PyTorch checkpoint"),
        ([rope_path, tmp_path / "missing"], "cannot read"),
    ]
    for inputs, message in cases:
        code = average_params.main([str(tmp_path / "out.params"), *map(str, inputs)])
        err = capsys.readouterr().err.strip()
        assert code == 1 and len(err.splitlines()) == 1 and message in err, (inputs, err)
        assert "Traceback" not in err
    assert average_params.main([str(tmp_path), str(rope_path), str(rope_path)]) == 1
    assert "is a directory" in capsys.readouterr().err
    assert not (tmp_path / "out.params").exists()
