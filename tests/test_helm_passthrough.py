"""vf-post as a real Helm 4 plugin: with nothing to do, the release is exactly Helm's own."""

import pytest

from conftest import REPO, helm

CHART = REPO / "tests" / "charts" / "plain"


@pytest.mark.parametrize("strategy", [None, "separate", "nohooks"])
def test_release_through_vf_post_equals_release_without(strategy):
    plain = helm("install", CHART)
    through = helm("install", CHART, post_renderer="vf-post", strategy=strategy)
    assert plain["ok"], plain
    assert through["ok"], through
    assert through["manifest"] == plain["manifest"]

