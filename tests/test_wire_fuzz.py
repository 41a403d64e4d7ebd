"""The client-protocol parser under generated input: an event or a ``ProtocolError``, never a crash.

A fixed budget (``max_examples``) keeps it in the suite; skipped where hypothesis is missing.
"""

from __future__ import annotations

import json

import pytest

from voxgate.protocol import ProtocolError
from voxgate.wire import WireLimits, read_client_event, validate

pytest.importorskip("hypothesis")
from hypothesis import given, settings
from hypothesis import strategies as st

LIMITS = WireLimits()

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)
_types = st.sampled_from(
    [
        "session.update",
        "input_audio_buffer.append",
        "conversation.item.create",
        "response.create",
        "response.cancel",
        "text",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300) | st.binary(max_size=300))
def test_any_text_is_an_event_or_a_protocol_error(text):
    try:
        validate(read_client_event(text, WireLimits(max_json_depth=6)), LIMITS)
    except ProtocolError as exc:
        assert exc.code and str(exc)


@settings(max_examples=300, deadline=None)
@given(_types, st.dictionaries(st.text(max_size=10), _json, max_size=5), st.integers(0, 40))
def test_any_shaped_event_is_an_event_or_a_protocol_error(type_, fields, depth):
    nested: object = 0
    for _ in range(depth):
        nested = [nested]
    text = json.dumps({**fields, "type": type_, "x": nested})
    try:
        validate(read_client_event(text, LIMITS), LIMITS)
    except ProtocolError as exc:
        assert exc.code and str(exc)
