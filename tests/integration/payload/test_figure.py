"""The figure itself, not only the file: every heatmap cell carries its value (seaborn 0.12 with
matplotlib >= 3.8 labels only the first row; the payload draws the numbers itself)."""

from __future__ import annotations

import numpy as np
import pytest

from analytics_payload.headless import configure_headless

configure_headless()

from analytics_payload import analysis  # noqa: E402


@pytest.fixture(scope="module")
def figure():  # type: ignore[no-untyped-def]
    import matplotlib.pyplot as plt

    frame = analysis.generate(3000, seed=4)
    made = analysis.build_figure(frame, seed=4)
    yield made, frame
    plt.close(made)


def test_every_heatmap_cell_shows_its_correlation(figure) -> None:  # type: ignore[no-untyped-def]
    made, frame = figure
    heatmap = next(ax for ax in made.axes if ax.get_title() == "Correlation")
    texts = {
        (round(t.get_position()[0], 1), round(t.get_position()[1], 1)): t.get_text()
        for t in heatmap.texts
    }
    correlation = frame[list(analysis.NUMERIC_COLUMNS)].corr().to_numpy()
    size = len(analysis.NUMERIC_COLUMNS)
    assert len(texts) == size * size
    for row in range(size):
        for column in range(size):
            assert texts[(column + 0.5, row + 0.5)] == f"{correlation[row, column]:.2f}"
    assert np.allclose(np.diag(correlation), 1.0)


def test_the_png_is_rendered_headless() -> None:
    import matplotlib

    png = analysis.render_figure(analysis.generate(500, seed=1), seed=1)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and matplotlib.get_backend().lower() == "agg"
