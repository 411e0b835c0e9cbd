from __future__ import annotations

import json

import pytest

from nvrd.accounts.rights import (
    ALL_RIGHTS,
    BUILTIN_GROUPS,
    NO_RIGHTS,
    USER_RIGHTS,
    ChannelRight,
    Rights,
    RightsFormatError,
    SystemRight,
)

LIVE, PLAYBACK, PTZ, EXPORT = (ChannelRight.LIVE, ChannelRight.PLAYBACK, ChannelRight.PTZ,
                               ChannelRight.EXPORT)


def test_every_channel_grant_covers_channels_added_later() -> None:
    rights = Rights(all_channels=frozenset({LIVE}), channels={3: frozenset({PTZ})})
    assert rights.allows_channel(1, LIVE)
    assert rights.allows_channel(250, LIVE)  # a channel nobody named when granting
    assert rights.allows_channel(3, PTZ)
    assert not rights.allows_channel(4, PTZ)
    assert not rights.allows_channel(3, PLAYBACK)


def test_system_rights() -> None:
    rights = Rights(system=frozenset({SystemRight.LOG_VIEW}))
    assert rights.allows(SystemRight.LOG_VIEW)
    assert not rights.allows(SystemRight.LOG_CLEAR)
    assert all(ALL_RIGHTS.allows(r) for r in SystemRight)
    assert all(ALL_RIGHTS.allows_channel(99, r) for r in ChannelRight)


def test_normalisation_makes_equal_grants_equal() -> None:
    a = Rights(all_channels=frozenset({LIVE}), channels={2: frozenset({LIVE}), 5: frozenset()})
    b = Rights(all_channels=frozenset({LIVE}))
    assert a == b
    assert hash(a) == hash(b)
    assert dict(a.channels) == {}


def test_subset_counts_future_channels() -> None:
    group = Rights(channels={1: frozenset({LIVE}), 2: frozenset({LIVE})})
    every = Rights(all_channels=frozenset({LIVE}))
    assert not every.is_subset_of(group)  # would also cover channel 3 when it appears
    assert group.is_subset_of(every)
    assert Rights(channels={1: frozenset({LIVE})}).is_subset_of(group)
    assert NO_RIGHTS.is_subset_of(NO_RIGHTS)
    assert USER_RIGHTS.is_subset_of(ALL_RIGHTS)
    assert not ALL_RIGHTS.is_subset_of(USER_RIGHTS)


def test_intersect_is_per_channel() -> None:
    a = Rights(frozenset({SystemRight.CAMERA, SystemRight.LOG_VIEW}),
               frozenset({LIVE, PLAYBACK}), {3: frozenset({PTZ})})
    b = Rights(frozenset({SystemRight.LOG_VIEW}), frozenset({LIVE}),
               {3: frozenset({PLAYBACK, PTZ}), 4: frozenset({EXPORT})})
    both = a.intersect(b)
    assert both.system == {SystemRight.LOG_VIEW}
    assert both.all_channels == {LIVE}
    assert both.channel_rights(3) == {LIVE, PLAYBACK, PTZ}
    assert both.channel_rights(4) == {LIVE}
    assert both.is_subset_of(a) and both.is_subset_of(b)


def test_minus_and_describe_name_the_excess() -> None:
    excess = ALL_RIGHTS.minus(USER_RIGHTS.intersect(Rights(all_channels=frozenset({LIVE}))))
    text = excess.describe()
    assert "camera" in text and "playback" in text and "every channel" in text
    assert NO_RIGHTS.describe() == "no rights"


@pytest.mark.parametrize("rights", [NO_RIGHTS, ALL_RIGHTS, USER_RIGHTS,
                                    Rights(frozenset({SystemRight.PTZ}), frozenset(),
                                           {7: frozenset({PTZ, EXPORT})})])
def test_json_round_trip(rights: Rights) -> None:
    text = json.dumps(rights.to_json())
    assert Rights.from_json(json.loads(text)) == rights


@pytest.mark.parametrize(("data", "fragment"), [
    ({"system": ["fly"]}, "'fly' is not a right in system"),
    ({"channels": {"x": ["live"]}}, "not a number"),
    ({"channels": {"0": ["live"]}}, "start at 1"),
    ({"all_channels": "live"}, "must be a list"),
    ({"extra": []}, "unknown rights fields"),
    ([], "must be an object"),
])
def test_bad_json_is_refused_with_a_sentence(data: object, fragment: str) -> None:
    with pytest.raises(RightsFormatError, match=fragment):
        Rights.from_json(data)


def test_builtin_groups() -> None:
    assert BUILTIN_GROUPS["admin"] == ALL_RIGHTS
    user = BUILTIN_GROUPS["user"]
    assert user.system == frozenset()  # least privilege: not even log_view
    assert user.all_channels == {LIVE, PLAYBACK}
