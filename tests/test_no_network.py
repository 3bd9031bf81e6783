"""The demo runs with every socket disabled: nothing downloads, nothing phones home."""

from __future__ import annotations

import json
import socket

import pytest

from polyclr.cli import main
from polyclr.pipelines import available_pipelines


class _NoNetwork(socket.socket):
    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):  # noqa: A002
        if family in (socket.AF_INET, socket.AF_INET6):
            raise RuntimeError("network access attempted during a polyclr run")
        super().__init__(family, type, proto, fileno)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("network access attempted during a polyclr run")

    monkeypatch.setattr(socket, "socket", _NoNetwork)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_guard_blocks_inet_sockets(no_network):
    with pytest.raises(RuntimeError):
        socket.create_connection(("127.0.0.1", 9))
    with pytest.raises(RuntimeError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)


@pytest.mark.slow
def test_demo_runs_offline(no_network, tmp_path, capsys):
    names = available_pipelines()
    if not names:
        pytest.skip("no pipelines installed")
    assert main(["demo", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert sorted(summary) == sorted(names)
    for name, res in summary.items():
        assert {"metric", "pretrained", "random_init", "pretrained_std", "random_init_std", "n",
                "note"} <= set(res), name
        assert 0.0 <= res["pretrained"] <= 1.0 and 0.0 <= res["random_init"] <= 1.0, name
        assert res["n"] >= 3 and "shows:" in res["note"] and "does not show:" in res["note"], name
    out = capsys.readouterr().out
    assert "pre-trained" in out and "random init" in out and "±" in out
