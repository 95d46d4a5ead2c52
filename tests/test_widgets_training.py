"""The training panel: its plain function, and the panel driven through its controls."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from tutorial_lib import widgets  # noqa: E402
from tutorial_lib.train import History  # noqa: E402


def fake_trainer(images, *, lr, epochs, depth, activation, progress, on_epoch_end, scale=1.0):
    """Records its arguments; 'trains' by writing a loss that falls with the epochs."""
    history = History()
    model = torch.nn.Linear(1, 1)
    model.seen = {"lr": lr, "depth": depth, "activation": activation, "scale": scale, "n": len(images)}
    for epoch in range(epochs):
        history.records.append({"epoch": epoch + 1, "loss": scale / (epoch + 1), "knn_acc": 0.5})
        on_epoch_end(epoch, model, history)
    return model, history


def test_train_view_passes_settings_and_reports():
    seen = []
    out = widgets.train_view(fake_trainer, torch.rand(5, 1, 8, 8), lr=0.01, epochs=3, depth=2,
                             activation="gelu", on_epoch=lambda h: seen.append(len(h)), scale=2.0,
                             plot_keys=("loss", "knn_acc"))
    assert seen == [1, 2, 3]
    assert out["model"].seen == {"lr": 0.01, "depth": 2, "activation": "gelu", "scale": 2.0, "n": 5}
    assert out["history"].losses == [2.0, 1.0, 2.0 / 3]
    assert "3 epochs" in out["summary"] and "knn_acc 0.500" in out["summary"]
    assert out["figure"] is not None


def test_training_panel_trains_only_on_button_and_draws_live():
    calls = []

    def other(images, **kw):
        calls.append(kw["epochs"])
        return fake_trainer(images, **kw)

    panel = widgets.training_panel({"first": fake_trainer, "second": other}, torch.rand(4, 1, 8, 8), epochs=2)
    assert panel.result == {} and bytes(panel.image.value) == b""
    panel.controls["method"].value = "second"
    panel.controls["epochs"].value = 4
    panel.controls["activation"].value = "tanh"
    panel.controls["depth"].value = 3
    assert calls == []  # changing settings does not train
    panel.button.click()
    assert calls == [4]
    assert panel.result["model"].seen["activation"] == "tanh" and panel.result["model"].seen["depth"] == 3
    assert bytes(panel.image.value).startswith(b"\x89PNG") and "4 epochs" in panel.status.value
    assert not panel.button.disabled


def test_training_panel_single_trainer_has_no_method_and_shows_errors():
    def broken(images, **kw):
        raise ValueError("bad setting")

    panel = widgets.training_panel(broken, torch.rand(2, 1, 8, 8))
    assert set(panel.controls) == {"lr", "epochs", "depth", "activation"}
    with pytest.raises(ValueError, match="bad setting"):
        panel.train()
    assert "bad setting" in panel.status.value and not panel.button.disabled


def test_train_view_shows_an_interrupted_run_instead_of_raising():
    from tutorial_lib.train import History, TrainingInterrupted
    from tutorial_lib.widgets import train_view

    def stopped(images, **kwargs):
        history = History(records=[{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.5}], interrupted=True)
        raise TrainingInterrupted("training interrupted in epoch 3", history, None)

    run = train_view(stopped, torch.zeros(4, 1, 8, 8), draw=False)
    assert run["model"] is None
    assert "2 epochs" in run["summary"] and "(interrupted)" in run["summary"]
