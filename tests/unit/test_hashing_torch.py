"""hash_model on PyTorch tensors: the known answers, layouts and copies, safetensors, tied weights, refusals."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
numpy = pytest.importorskip("numpy")
safetensors_torch = pytest.importorskip("safetensors.torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pot import hashing  # noqa: E402
from pot.errors import UsageError  # noqa: E402
from pot.hashing import DTYPES, hash_buffers, hash_file, hash_safetensors  # noqa: E402
from pot.integrations import torch as pot_torch  # noqa: E402
from pot.integrations.torch import hash_checkpoint_file, hash_model, model_hash  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
VECTORS = json.loads((REPO / "tests" / "assets" / "model_hash_vectors.json").read_text(encoding="utf-8"))
MODEL_CASES = {case["title"]: case for case in VECTORS["model_cases"]}
MIXED = MODEL_CASES["mixed-dtypes"]
SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def raw_bytes(tensor: Any) -> bytes:
    return bytes(tensor.contiguous().reshape(-1).view(torch.uint8).numpy())


def from_values(entry: dict[str, Any]) -> Any:
    """Let torch encode the vector's numbers, independently of the hex the vector also carries."""
    dtype = getattr(torch, entry["dtype"])
    values = entry["values"]
    if entry["dtype"] == "complex64":
        values = [complex(re, im) for re, im in values]
    elif isinstance(values, list):
        values = [SPECIAL.get(v, v) if isinstance(v, str) else v for v in values]
    if entry["dtype"].startswith("float8"):
        return torch.tensor(values, dtype=torch.float32).to(dtype).reshape(entry["shape"])
    return torch.tensor(values, dtype=dtype).reshape(entry["shape"])


def from_data(entry: dict[str, Any]) -> Any:
    data = bytes.fromhex(entry["data"])
    dtype = getattr(torch, entry["dtype"])
    if not data:
        return torch.empty(entry["shape"], dtype=dtype)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).view(dtype).reshape(entry["shape"])


def naive_state_dict_digest(state: dict[str, Any]) -> str:
    """The scheme applied to a state dict the slow way users used to: copy each tensor's bytes out."""
    items = [(n, str(t.dtype).removeprefix("torch."), list(t.shape), raw_bytes(t.detach().cpu()))
             for n, t in state.items()]
    return hash_buffers(items).digest


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(11, 8)
        self.conv = torch.nn.Conv1d(8, 6, 3)
        self.norm = torch.nn.BatchNorm1d(6)
        self.head = torch.nn.Linear(6, 4).to(torch.bfloat16)
        self.register_buffer("mask", torch.tensor([True, False, True]))
        self.register_buffer("scratch", torch.zeros(3), persistent=False)


def make_net(seed: int = 0) -> Net:
    torch.manual_seed(seed)
    return Net()


# --- known answers ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", MIXED["tensors"], ids=lambda e: e["name"])
def test_torch_encodes_vector_values_as_the_vector_bytes(entry: dict[str, Any]) -> None:
    assert raw_bytes(from_values(entry)).hex() == entry["data"]


@pytest.mark.parametrize("title", list(MODEL_CASES))
def test_known_answer_vectors(title: str) -> None:
    case = MODEL_CASES[title]
    from_hex = {t["name"]: from_data(t) for t in case["tensors"]}
    assert hash_model(from_hex).digest == case["digest"]
    assert hash_model(from_hex, workers=1).total_bytes == case["total_bytes"]
    if title == "mixed-dtypes":
        assert hash_model({t["name"]: from_values(t) for t in case["tensors"]}).digest == case["digest"]


def test_module_hashes_its_state_dict_parameters_and_buffers() -> None:
    net = make_net()
    result = hash_model(net)
    names = [t.name for t in result.manifest]
    assert "norm.running_mean" in names
    assert "norm.num_batches_tracked" in names
    assert "mask" in names
    assert "scratch" not in names  # non-persistent buffers are not part of the state dict
    assert names == sorted(net.state_dict())
    assert result.digest == naive_state_dict_digest(net.state_dict()) == model_hash(net)
    assert result.digest == hash_model(net.state_dict()).digest
    assert {t.dtype for t in result.manifest} == {"float32", "bfloat16", "int64", "bool"}


def test_insertion_order_does_not_matter() -> None:
    state = make_net().state_dict()
    assert hash_model(OrderedDict(reversed(list(state.items())))) == hash_model(state)


def test_same_digest_in_another_process() -> None:
    script = (
        "import sys, torch\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_hashing_torch import make_net\n"
        "from pot.integrations.torch import model_hash\n"
        "print(model_hash(make_net(), workers=2))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO,
                            env=env)
    assert result.stdout.strip().splitlines()[-1] == model_hash(make_net(), workers=1)


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_workers_and_chunk_size_do_not_change_the_digest(monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    expected = hash_model(make_net())
    monkeypatch.setattr(hashing, "CHUNK_BYTES", 24)
    assert hash_model(make_net(), workers=workers) == expected


def test_progress_reaches_the_total() -> None:
    seen: list[tuple[int, int]] = []
    result = hash_model(make_net(), workers=2, progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, result.total_bytes)
    assert seen[-1] == (result.total_bytes, result.total_bytes)


# --- layouts, copies, devices -----------------------------------------------------------------------------------


def _views() -> dict[str, tuple[Any, Any]]:
    torch.manual_seed(1)
    base = torch.randn(6, 10, 4)
    wide = torch.arange(40, dtype=torch.int64).reshape(5, 8)
    half = torch.randn(7, 9).to(torch.bfloat16)
    cplx = torch.randn(3, 4, dtype=torch.complex64)
    return {
        "transposed": (wide.t(), wide.t().contiguous()),
        "permuted": (base.permute(2, 0, 1), base.permute(2, 0, 1).contiguous()),
        "stepped": (base[::2, 1::3, :], base[::2, 1::3, :].contiguous()),
        "expanded": (torch.tensor([1.0, 2.0]).expand(3, 2), torch.tensor([[1.0, 2.0]] * 3)),
        "bfloat16-column": (half[:, 3], half[:, 3].contiguous()),
        "bool-transposed": (base.gt(0).transpose(0, 1), base.gt(0).transpose(0, 1).contiguous()),
        "conjugate-view": (cplx.conj(), cplx.conj().resolve_conj()),
        "negative-view": (torch._neg_view(base), (-base).contiguous()),
        "scalar-from-slice": (base[1, 2, 3], base[1, 2, 3].clone()),
        "empty-slice": (base[:, 5:5], torch.empty(6, 0, 4)),
    }


@pytest.mark.parametrize("chunk", [hashing.CHUNK_BYTES, 64, 8])
@pytest.mark.parametrize("kind", list(_views()))
def test_non_contiguous_tensors_hash_like_their_contiguous_copies(
        monkeypatch: pytest.MonkeyPatch, kind: str, chunk: int) -> None:
    view, copy = _views()[kind]
    assert not copy.is_conj()
    assert not copy.is_neg()
    expected = hash_model({"t": copy}).digest
    monkeypatch.setattr(hashing, "CHUNK_BYTES", chunk)  # small chunks split rows and recurse into dimensions
    assert hash_model({"t": view}).digest == expected


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_random_strided_views_hash_like_copies(data: st.DataObject) -> None:
    shape = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=4))
    base = torch.arange(math.prod(shape), dtype=torch.float32).reshape(shape)
    order = data.draw(st.permutations(range(len(shape))))
    view = base.permute(*order)
    for dim in range(view.dim()):
        how = data.draw(st.sampled_from(["keep", "step 2", "step 3", "broadcast"]))
        if how.startswith("step"):
            index = [slice(None)] * view.dim()
            index[dim] = slice(None, None, int(how[-1]))
            view = view[tuple(index)]
        elif how == "broadcast":  # stride 0: every element along dim is the same memory
            view = view.narrow(dim, 0, 1).expand(*view.shape)
    chunk = data.draw(st.sampled_from([4, 12, 1 << 20]))
    original = hashing.CHUNK_BYTES
    try:
        hashing.CHUNK_BYTES = chunk
        assert hash_model({"v": view}).digest == hash_model({"v": view.contiguous()}).digest
    finally:
        hashing.CHUNK_BYTES = original


def test_contiguous_cpu_tensors_are_hashed_in_place() -> None:
    weight = torch.randn(64, 64)
    data = pot_torch._tensor_data(weight, 4)
    assert isinstance(data, numpy.ndarray)
    assert data.__array_interface__["data"][0] == weight.data_ptr()  # a view of the tensor's memory, not a copy


def test_big_endian_hosts_swap_each_scalar(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a little-endian host, pretend to be big-endian: the hashed bytes must then be each scalar reversed."""
    state = {t["name"]: from_data(t) for t in MIXED["tensors"]}
    monkeypatch.setattr(pot_torch, "_BIG_ENDIAN", True)
    monkeypatch.setattr(hashing, "CHUNK_BYTES", 8)

    def swapped(name: str, tensor: Any) -> bytes:
        unit = DTYPES[str(tensor.dtype).removeprefix("torch.")].unit
        raw = raw_bytes(tensor)
        return b"".join(raw[i:i + unit][::-1] for i in range(0, len(raw), unit))

    expected = hash_buffers([(n, str(t.dtype).removeprefix("torch."), list(t.shape), swapped(n, t))
                             for n, t in state.items()])
    assert hash_model(state) == expected
    assert expected.digest != MIXED["digest"]


def test_tied_weights_hash_under_every_name() -> None:
    torch.manual_seed(3)
    model = torch.nn.ModuleDict({"embed": torch.nn.Embedding(10, 6), "lm_head": torch.nn.Linear(6, 10, bias=False)})
    model["lm_head"].weight = model["embed"].weight
    state = model.state_dict()
    assert state["embed.weight"].data_ptr() == state["lm_head.weight"].data_ptr()
    untied = {name: tensor.clone() for name, tensor in state.items()}
    result = hash_model(model)
    assert result == hash_model(untied)
    assert [t.name for t in result.manifest] == ["embed.weight", "lm_head.weight"]
    # a view of the same memory under a different shape is not a tie
    w = torch.randn(4, 6)
    assert hash_model({"a": w, "b": w.t()}).manifest[1].shape == (6, 4)
    assert hash_model({"a": w, "b": w.t()}) == hash_model({"a": w.clone(), "b": w.t().contiguous()})


# --- safetensors ------------------------------------------------------------------------------------------------


def test_safetensors_file_digest_equals_hash_model(tmp_path: Path) -> None:
    state = {name: tensor.contiguous() for name, tensor in make_net().state_dict().items()}
    state["empty"] = torch.empty(0, 3)
    state["scalar"] = torch.tensor(2.5, dtype=torch.float16)
    state["fp8"] = torch.tensor([1.0, -0.5]).to(torch.float8_e4m3fn)
    path = tmp_path / "model.safetensors"
    safetensors_torch.save_file(state, str(path), metadata={"step": "10"})
    assert hash_safetensors(path) == hash_model(state)
    assert hash_safetensors(path, workers=1).digest == hash_model(state, workers=1).digest


def test_safetensors_vector_case_round_trips(tmp_path: Path) -> None:
    state = {t["name"]: from_data(t) for t in MIXED["tensors"]}
    path = tmp_path / "vectors.safetensors"
    safetensors_torch.save_file(state, str(path))
    assert hash_safetensors(path).digest == MIXED["digest"]


def test_checkpoint_file_hash_is_the_file_sha256(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    torch.save(make_net().state_dict(), path)
    assert hash_checkpoint_file(path) == hash_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()


# --- every change shows -----------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_any_single_change_changes_the_digest_and_diff_names_it(data: st.DataObject) -> None:
    state = {name: tensor.clone() for name, tensor in make_net().state_dict().items()}
    floats = [n for n, t in state.items() if t.is_floating_point() and t.numel()]
    name = data.draw(st.sampled_from(floats))
    kind = data.draw(st.sampled_from(["value", "dtype", "shape", "name"]))
    before = hash_model(state)
    changed = dict(state)
    tensor = state[name]
    if kind == "value":
        index = data.draw(st.integers(0, tensor.numel() - 1))
        flat = tensor.clone().reshape(-1)
        flat[index] = flat[index] + 1 if flat[index].abs() < 1e30 else 0
        changed[name] = flat.reshape(tensor.shape)
        expected = [(name, "values")]
    elif kind == "dtype":
        other = torch.float64 if tensor.dtype != torch.float64 else torch.float32
        changed[name] = tensor.to(other)
        expected = [(name, f"dtype {str(tensor.dtype)[6:]} -> {str(other)[6:]}; values")]
    elif kind == "shape":
        changed[name] = tensor.reshape(-1, 1)
        expected = [(name, f"shape {list(tensor.shape)} -> {[tensor.numel(), 1]}")]
    else:
        changed[name + ".renamed"] = changed.pop(name)
        expected = sorted([(name, "removed"), (name + ".renamed", "added")])
    after = hash_model(changed)
    assert after.digest != before.digest
    assert before.diff(after) == expected


def test_a_one_bit_change_in_a_large_tensor_shows() -> None:
    big = torch.zeros(1 << 20)
    before = hash_model({"w": big, "b": torch.ones(3)})
    big.view(torch.int32)[123_456] ^= 1  # one bit: 0.0 becomes the smallest subnormal
    after = hash_model({"w": big, "b": torch.ones(3)})
    assert before.diff(after) == [("w", "values")]


# --- refusals ---------------------------------------------------------------------------------------------------


class Tagged(torch.Tensor):
    pass


def _quantized() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.quantize_per_tensor(torch.ones(2), 0.1, 0, torch.qint8)


@pytest.mark.parametrize(("state", "message"), [
    (lambda: {"s": torch.zeros(3).to_sparse()},
     "tensor 's' is sparse (torch.sparse_coo); pot hashes dense tensors, call .to_dense() first"),
    (lambda: {"c": torch.eye(3).to_sparse_csr()}, "tensor 'c' is sparse (torch.sparse_csr)"),
    (lambda: {"q": _quantized()},
     "tensor 'q' is quantized (torch.qint8); pot hashes plain dtypes, hash .dequantize() or .int_repr() instead"),
    (lambda: {"m": torch.zeros(2, device="meta")},
     "tensor 'm' is on the meta device and holds no data; load the weights first"),
    (lambda: {"n": torch.nested.nested_tensor([torch.zeros(2), torch.zeros(3)])},
     "tensor 'n' is a nested tensor; pot hashes dense tensors"),
    (lambda: {"h": torch.zeros(2, dtype=torch.complex32)},
     "tensor 'h': dtype torch.complex32 is not one pot hashes (bool, uint8"),
    (lambda: {"x": torch.zeros(2).as_subclass(Tagged)},
     "tensor 'x' is a tensor subclass (Tagged); pot hashes plain tensors"),
    (lambda: {"_extra_state": {"step": 3}},
     "state dict entry '_extra_state' is of type dict, not a tensor; pot hashes tensors only"),
    (lambda: {1: torch.zeros(1)}, "state dict keys must be strings, got int 1"),
    (lambda: torch.nn.LazyLinear(3),
     "tensor 'weight' is uninitialized (a lazy module that has not run yet); run one batch first"),
    (lambda: [torch.zeros(1)], "hash_model takes an nn.Module or a mapping of names to tensors, got list"),
])
@pytest.mark.filterwarnings("ignore::UserWarning")  # sparse CSR, nested and complex32 announce they are beta
def test_unhashable_inputs_are_refused_with_one_clear_line(state: Any, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        hash_model(state())
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_parameters_passed_directly_are_fine() -> None:
    net = make_net()
    params = dict(net.named_parameters())
    assert hash_model(params) == hash_model({n: p.detach().clone() for n, p in params.items()})


def test_importing_pot_does_not_import_torch() -> None:
    code = "import sys, pot, pot.hashing, pot.integrations; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip() == "False"
