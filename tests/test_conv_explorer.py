"""cnnlib.conv_explorer: the window figure shows every output position and the unused cells."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from cnnlib.conv_explorer import conv_explorer, draw_windows  # noqa: E402

RED = (0.9568627450980393, 0.6392156862745098, 0.6392156862745098, 1.0)  # "#f4a3a3"


def cells(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def test_one_bar_per_output_position_and_one_cell_per_padded_input():
    ax = draw_windows(W=7, F=3, S=2, P=1)
    assert len(cells(ax)) == 7 + 2
    assert len(ax.lines) == (7 + 2 - 3) // 2 + 1  # 4 windows
    assert "tiles exactly" in ax.get_title()
    plt.close("all")


def test_cells_no_window_reaches_are_red():
    ax = draw_windows(W=8, F=3, S=2, P=0)  # windows cover 0..6; cell 7 is never used
    red = [p.get_x() for p in cells(ax) if p.get_facecolor() == RED]
    assert red == [7]
    assert "does not tile: 1 cell(s) never used" in ax.get_title()
    plt.close("all")


def test_the_explorer_has_a_slider_per_number():
    widget = conv_explorer(W=11, F=3, S=2, P=1)
    values = {child.description.split()[0]: child.value for child in widget.children[:-1]}
    assert values == {"W": 11, "F": 3, "S": 2, "P": 1}
    plt.close("all")


def test_explorer_gif_has_one_frame_per_state(tmp_path):
    from PIL import Image

    from cnnlib.conv_explorer import explorer_gif

    states = [(7, 3, 1, 1), (7, 3, 2, 0), (8, 3, 2, 0)]
    path = explorer_gif(states, tmp_path / "explorer.gif")
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == len(states)
    import pytest

    with pytest.raises(ValueError, match="wider than the padded input"):
        explorer_gif([(3, 7, 1, 0)], tmp_path / "bad.gif")
