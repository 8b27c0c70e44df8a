"""`--engine wasm` through the real Helm 4 engine: the same release as the native engine."""

import pytest

from chart_support import CI, render


@pytest.mark.parametrize("values", CI, ids=lambda p: p.stem)
def test_wasm_engine_renders_the_chart_exactly_as_native(values):
    native, _ = render([values], post_render=True)
    wasm, _ = render([values], post_render=True, args=["--engine", "wasm"])
    assert wasm == native
