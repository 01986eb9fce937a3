"""The flows file: the bundled one, merging of defaults and tweaks, and errors that name file, flow and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.flows_build import FLOWS, NODE_IDS
from bridge.pipeline.config import FlowsConfigError, load_flows_config, parse_flows_config

GOOD = """
[runner]
retries = 2
[defaults]
timeout_s = 30
tweaks = { "AnthropicModel-zrtms" = { temperature = 0.1 } }
[flows.coach]
kind = "objections"
triggers = { turn = { min_chars = 5 } }
tweaks = { "AnthropicModel-zrtms" = { max_tokens = 500 } }
[flows.notes]
kind = "summary"
timeout_s = 12.5
[flows.notes.triggers]
interval_s = 90
utterances = 10
final = false
"""


def test_the_bundled_file_configures_the_three_flows() -> None:
    config = load_flows_config()
    assert set(config.flows) == set(FLOWS)
    coach = config.flows["objection_coach"]
    assert coach.kind == "objections" and coach.triggers.turn is not None and coach.triggers.turn.non_host
    assert coach.triggers.turn.min_chars == 60
    assert config.flows["meeting_summary"].triggers.interval_s == 180
    assert config.flows["ticket_creation"].triggers.interval_s == 180
    assert all(f.triggers.final for f in config.flows.values())
    assert config.meeting.internal == []


def test_the_internal_side_is_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(GOOD + '\n[meeting]\ninternal = ["Tom Okafor", "(Harborline)"]\n')
    assert load_flows_config(path).meeting.internal == ["Tom Okafor", "(Harborline)"]
    path.write_text(GOOD + '\n[meeting]\ninternal = ["  "]\n')
    with pytest.raises(FlowsConfigError, match=r"meeting\.internal: Value error, an empty mark would match every name"):
        load_flows_config(path)


def test_defaults_and_tweaks_merge(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    config = load_flows_config(path)
    assert config.source == str(path) and config.runner.retries == 2
    coach, notes = config.flows["coach"], config.flows["notes"]
    assert coach.timeout_s == 30 and notes.timeout_s == 12.5 and notes.triggers.final is False
    assert coach.tweaks == {NODE_IDS["model"]: {"temperature": 0.1, "max_tokens": 500}}
    # The bridge's own tweaks (a setting) go under the flow's.
    extra = {NODE_IDS["model"]: {"base_url": "http://127.0.0.1:1", "temperature": 0.9}, "Other": {"x": 1}}
    assert config.tweaks_for("coach", extra) == {
        NODE_IDS["model"]: {"base_url": "http://127.0.0.1:1", "temperature": 0.1, "max_tokens": 500},
        "Other": {"x": 1},
    }


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[flows.coach]\nkind = 'objections'\n[flows.coach.triggers]\nturn = { min_chars = -1 }\n",
         "cfg.toml: flow 'coach': triggers.turn.min_chars: Input should be greater than or equal to 0"),
        ("[flows.coach]\nkind = 'opinions'\ntriggers = { final = true }\n", "cfg.toml: flow 'coach': kind: "),
        ("[flows.coach]\nkind = 'summary'\n", "cfg.toml: flow 'coach': triggers: missing"),
        ("[flows.coach]\nkind = 'summary'\ntriggers = { final = true }\ntimeout = 3\n",
         "cfg.toml: flow 'coach': timeout: unknown key"),
        ("[flows.coach]\nkind = 'summary'\ntriggers = { every = 3 }\n", "cfg.toml: flow 'coach': triggers.every: "),
        ("[flows.coach]\nkind = 'summary'\ntriggers = { final = false }\n", "cfg.toml: flow 'coach': triggers: "),
        ("[flows.coach]\nkind = 'summary'\ntriggers = { interval_s = '2m' }\n",
         "cfg.toml: flow 'coach': triggers.interval_s: Input should be a valid number"),
        ("[flows.coach]\nkind = 'summary'\nmax_pending = 5\ntriggers = { utterances = 10 }\n",
         "cfg.toml: flow 'coach': (table): Value error, max_pending (5) is below triggers.utterances (10)"),
        ("[flows.coach]\nkind = 'summary'\ntriggers = { final = true }\ntweaks = { Node = 3 }\n",
         "cfg.toml: flow 'coach': tweaks: must be a table"),
        ("[flows.'bad name']\nkind = 'summary'\ntriggers = { final = true }\n", "cfg.toml: flow 'bad name': "),
        ("[runner]\nretries = 0\n[flows.a]\nkind='summary'\ntriggers={final=true}\n",
         "cfg.toml: runner.retries: Input should be greater than or equal to 1"),
        ("[defaults]\ncontext_utterances = 'x'\n", "cfg.toml: defaults.context_utterances: "),
        ("[flow.coach]\n", "cfg.toml: flow: unknown table"),
        ("[runner]\n", "cfg.toml: flows: no [flows.<endpoint_name>] table"),
        ("[flows.coach\n", "cfg.toml: not valid TOML"),
    ],
)
def test_errors_name_the_file_the_flow_and_the_key(text: str, expected: str) -> None:
    with pytest.raises(FlowsConfigError) as caught:
        parse_flows_config(text, "cfg.toml")
    assert str(caught.value).startswith(expected), str(caught.value)


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FlowsConfigError, match=r"missing\.toml: cannot be read"):
        load_flows_config(tmp_path / "missing.toml")
