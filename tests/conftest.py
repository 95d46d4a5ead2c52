"""Fixtures shared by several test files."""

import pickle

import pytest
import torch


@pytest.fixture
def no_unpickling(monkeypatch):
    """Loading must never unpickle: any attempt fails the test."""
    def forbidden(*args, **kwargs):
        raise AssertionError("a model file was unpickled")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
