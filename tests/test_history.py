"""cnnlib.history: the table a History prints, for fit's epochs and for the adapt loops' steps."""
from cnnlib.history import History


def fit_row(epoch, val_acc=None):
    return {"epoch": epoch, "train_loss": 0.5, "train_acc": 0.8, "val_loss": None if val_acc is None
            else 0.3, "val_acc": val_acc, "seconds": 3.21, "images_per_s": 12345.6, "lr": 0.1}


def test_a_fit_history_prints_one_line_per_epoch_with_dashes_for_missing_values():
    lines = repr(History([fit_row(1), fit_row(2, val_acc=0.9)])).splitlines()
    assert lines[0].split() == ["epoch", "train", "loss", "train", "acc", "val", "loss", "val",
                                "acc", "s", "img/s"]
    assert lines[1].split() == ["1", "0.5000", "0.8000", "-", "-", "3.2", "12,346"]
    assert lines[2].split() == ["2", "0.5000", "0.8000", "0.3000", "0.9000", "3.2", "12,346"]


def test_a_history_of_steps_prints_its_own_columns():
    # the rows of cnnlib.adapt's loops (ADDA here): "step", not "epoch" (was KeyError: 'epoch')
    history = History([{"step": 100, "d_loss": 0.69, "encoder_loss": 0.7, "d_acc": 0.5,
                        "seconds": 1.23, "target_acc": 0.81},
                       {"step": 200, "d_loss": 0.6, "encoder_loss": 0.8, "d_acc": 0.625,
                        "seconds": 2.5}])
    lines = repr(history).splitlines()
    assert lines[0].split() == ["step", "d_loss", "encoder_loss", "d_acc", "seconds", "target_acc"]
    assert lines[1].split() == ["100", "0.6900", "0.7000", "0.5000", "1.2", "0.8100"]
    assert lines[2].split() == ["200", "0.6000", "0.8000", "0.6250", "2.5", "-"]


def test_an_empty_history_prints_the_header_and_a_value_that_is_not_a_number_prints_as_is():
    assert repr(History()).split() == repr(History([fit_row(1)])).splitlines()[0].split()
    assert "a note" in repr(History([{"step": 1, "note": "a note"}]))


def test_state_dict_round_trip_keeps_rows_and_settings():
    history = History([fit_row(1)], settings={"lr": 0.1})
    again = History.from_state(history.state_dict())
    assert again.rows == history.rows and again.settings == {"lr": 0.1}
