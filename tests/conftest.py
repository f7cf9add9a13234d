"""Shared fixtures. Generator fixtures are named ``sample_*``."""

from __future__ import annotations

import pytest

from orchestration.lib.sample import SampleSummary, generate_sample


@pytest.fixture(scope="session")
def sample_tiny(tmp_path_factory) -> SampleSummary:
    """The messy tiny sample (seed 2025, 2021-2025), written once per test session.

    Read-only: copy ``sample_tiny.raw_dir`` before changing files. ``expected_mess`` lists every
    injected bad row and file.
    """
    return generate_sample(tmp_path_factory.mktemp("sample_tiny") / "raw", scale="tiny")
