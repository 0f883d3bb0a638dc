"""Worker settings that decide where a worker writes on the machine it runs on, and how much
memory it keeps."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from journey_stitcher.config import load_config
from journey_stitcher.settings import Settings
from journey_stitcher.worker.app import create_app


def test_faust_never_writes_into_the_current_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("JOURNEY_STITCHER_DATADIR", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings(app_id="stitcher-a")
    app = create_app(settings, load_config(None), b"pepper")
    expected = Path(tempfile.gettempdir()) / "journey-stitcher" / "stitcher-a"
    assert Path(app.conf.datadir) == expected
    assert list(tmp_path.iterdir()) == []


def test_the_data_directory_can_be_chosen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JOURNEY_STITCHER_DATADIR", str(tmp_path / "deep" / "faust"))
    app = create_app(Settings(), load_config(None), b"pepper")
    assert Path(app.conf.datadir) == tmp_path / "deep" / "faust"
    assert (tmp_path / "deep").is_dir()  # Faust itself only creates the last level


def test_the_decoded_states_cache_is_bounded_by_its_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEY_STITCHER_STATE_CACHE_MB", "2.5")
    app = create_app(Settings(), load_config(None), b"pepper")
    journeys = app.conf.journey_stitcher["journeys"]
    assert journeys.decoded_states.budget == int(2.5 * 2**20)
    monkeypatch.delenv("JOURNEY_STITCHER_STATE_CACHE_MB")
    app = create_app(Settings(), load_config(None), b"pepper")
    assert app.conf.journey_stitcher["journeys"].decoded_states.budget == 8 * 2**20
