"""The environment a several-worker Langflow gets (the running test is tests/langflow/test_workers.py, `heavy`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.langflow_process import LangflowProcess, SharedBackends, child_pids


def test_shared_backends_replace_sqlite_and_set_the_redis_queue_and_cache(tmp_path: Path) -> None:
    shared = SharedBackends("postgresql://postgres@127.0.0.1:5432/lf_x", queue_db=12, cache_db=13)
    env = LangflowProcess(tmp_path, workers=2, shared=shared).environment()
    assert env["LANGFLOW_WORKERS"] == "2"
    assert env["LANGFLOW_DATABASE_URL"] == "postgresql://postgres@127.0.0.1:5432/lf_x"
    assert env["LANGFLOW_JOB_QUEUE_TYPE"] == "redis" and env["LANGFLOW_REDIS_QUEUE_DB"] == "12"
    assert env["LANGFLOW_CACHE_TYPE"] == "redis" and env["LANGFLOW_REDIS_DB"] == "13"
    single = LangflowProcess(tmp_path).environment()
    assert single["LANGFLOW_WORKERS"] == "1" and single["LANGFLOW_DATABASE_URL"].startswith("sqlite:///")
    assert "LANGFLOW_JOB_QUEUE_TYPE" not in single


def test_several_workers_without_shared_backends_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="2 Langflow workers need shared backends"):
        LangflowProcess(tmp_path, workers=2).environment()


def test_child_pids_of_a_process_without_children() -> None:
    assert child_pids(2**22 + 1) == []
