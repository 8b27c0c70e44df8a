"""Budgets in bytes (issue 12): hostile YAML under 1 MB costs vf-post under 256 MB, and a bomb
ends in exit 2 with one line naming the document, its line and column, and nothing on stdout.

Peak memory is the child's own maximum resident set (wait4's ru_maxrss), render and lint alike,
with and without a transform (a transform builds every document's tree)."""

import os
import subprocess
import tempfile

import pytest

from conftest import VF_POST

LIMIT_MIB = 256


def run(stdin: bytes, *args: str):
    """vf-post with `stdin`; returns (exit status, stdout, stderr, peak RSS in MiB)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as inp:
        inp.write(stdin)
        inp.seek(0)
        child = subprocess.Popen([str(VF_POST), *args], stdin=inp, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return child.returncode, out.read(), err.read().decode(), usage.ru_maxrss / 1024


def config_annotating_everything(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("transforms:\n  commonAnnotations:\n    vf-post.virtufin.io/touched: \"yes\"\n")
    return ["--config", str(path)]


HEAD = "---\n# Source: c/templates/bomb.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\n"


def wide_alias_bomb() -> bytes:
    """One 100 KB scalar, aliased 20,000 times: 180 KB that would expand to 2 GB."""
    aliases = "".join(f"  k{i}: *big\n" for i in range(20_000))
    return (HEAD + "data:\n  big: &big " + "x" * 100_000 + "\n" + aliases).encode()


def deep_alias_bomb() -> bytes:
    """Billion laughs: each level lists the one before ten times."""
    levels = ["  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"]
    for i in range(1, 12):
        levels.append(f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n")
    return (HEAD + "data:\n" + "".join(levels)).encode()


BOMBS = {
    "wide aliases": (wide_alias_bomb, "alias bomb"),
    # Go's own guard answers first here (more than 99% of the nodes come from aliases); the
    # wide bomb above stays within Go's ratio, and vf-post's byte budget stops it.
    "billion laughs": (deep_alias_bomb, "excessive aliasing"),
    "deep flow nesting": (lambda: (HEAD + "data:\n  x: " + "[" * 100_000 + "\n").encode(), "nesting"),
    "deep block nesting": (
        lambda: (HEAD + "data:\n" + "".join(" " * (2 * i + 2) + "a:\n" for i in range(300))).encode(),
        "nesting",
    ),
}


@pytest.mark.parametrize("name", BOMBS)
@pytest.mark.parametrize("mode", ["render", "render with a transform", "lint"])
def test_a_bomb_is_refused_in_one_line_within_budget(name, mode, tmp_path):
    make, why = BOMBS[name]
    stdin = make()
    assert len(stdin) < 1 << 20
    args = {"render": [], "render with a transform": config_annotating_everything(tmp_path), "lint": ["lint"]}[mode]
    status, out, err, peak = run(stdin, *args)
    assert status == 2, err
    assert out == b""
    line = err.strip()
    assert "\n" not in line, err
    prefix = "vf-post: -: " if mode == "lint" else "vf-post: "  # lint names the file (stdin)
    assert line.startswith(prefix + "cannot read document 1 (c/templates/bomb.yaml), line "), line
    assert why in line, line
    assert peak < LIMIT_MIB, f"{name}: {peak:.0f} MiB"


def big_but_honest(kind: str) -> bytes:
    """Inputs just under 1 MB that are legal and expensive: they pass, within budget."""
    if kind == "many small items":
        return (HEAD + "data:\n  x: [" + ",".join(["a"] * 450_000) + "]\n").encode()
    if kind == "long line":
        return (HEAD + "data:\n  x: " + "y" * 1_000_000 + "\n").encode()
    if kind == "many documents":
        doc = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{}\ndata:\n  k: v\n"
        return "".join(doc.format(i) for i in range(14_000)).encode()
    if kind == "shared anchors":
        labels = "  labels: &l\n" + "".join(f"    k{i}: v\n" for i in range(20)) + "  x:\n"
        return (HEAD + "data:\n" + labels + "".join(f"    - *l\n" for i in range(2_000))).encode()
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["many small items", "long line", "many documents", "shared anchors"])
@pytest.mark.parametrize("mode", ["render", "render with a transform"])
def test_inputs_under_a_megabyte_stay_under_256_mib(kind, mode, tmp_path):
    stdin = big_but_honest(kind)
    assert len(stdin) < 1 << 20, len(stdin)
    args = [] if mode == "render" else config_annotating_everything(tmp_path)
    status, out, err, peak = run(stdin, *args)
    assert status in (0, 1), err
    assert out, err
    assert peak < LIMIT_MIB, f"{kind}: {peak:.0f} MiB"
