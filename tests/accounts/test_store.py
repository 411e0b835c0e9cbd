from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import nvrd.accounts.store as store_module
from nvrd.accounts.errors import (
    AdminRightsFixed,
    AlreadyInitialized,
    AuthenticationFailed,
    BuiltinGroupProtected,
    FailureReason,
    Forbidden,
    GroupNotEmpty,
    GroupNotFound,
    InvalidName,
    LastAdmin,
    NameTaken,
    RightsNotSubset,
    TokenNotFound,
    UserNotFound,
    WrongOldPassword,
)
from nvrd.accounts.passwords import DEFAULT_PARAMS, PasswordPolicyError, ScryptParams, Strength
from nvrd.accounts.rights import ALL_RIGHTS, USER_RIGHTS, ChannelRight, Rights, SystemRight
from nvrd.accounts.store import AccountStore, InvalidValue, StoreVersionError
from nvrd.accounts.windows import LoginWindows
from tests.accounts.helpers import ADMIN_PASSWORD, GOOD_PASSWORD, FakeClock, MakeStore

LIVE = frozenset({ChannelRight.LIVE})
OPERATORS = Rights(frozenset({SystemRight.CAMERA, SystemRight.LOG_VIEW, SystemRight.ACCOUNTS}),
                   frozenset({ChannelRight.LIVE, ChannelRight.PLAYBACK}),
                   {2: frozenset({ChannelRight.PTZ})})


# --- first boot -----------------------------------------------------------------------------

def test_initialize_once(make_store: MakeStore) -> None:
    store = make_store()
    assert not store.initialized()
    with pytest.raises(PasswordPolicyError):
        store.initialize("admin")  # no weak first password either
    assert not store.initialized()
    admin = store.initialize(ADMIN_PASSWORD)
    assert store.initialized()
    assert admin.name == "admin" and admin.is_admin and admin.rights == ALL_RIGHTS
    assert admin.password_strength is Strength.STRONG
    with pytest.raises(AlreadyInitialized):
        store.initialize("Other#Pass9x", username="root")
    assert [u.name for u in store.list_users()] == ["admin"]


def test_concurrent_initialization_has_one_winner(make_store: MakeStore) -> None:
    store = make_store()
    outcomes: list[str] = []

    def attempt(name: str) -> None:
        try:
            store.initialize(ADMIN_PASSWORD, username=name)
            outcomes.append("ok")
        except AlreadyInitialized:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt, args=(f"admin{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok", "refused", "refused", "refused"]
    assert len(store.list_users()) == 1


def test_builtin_groups_exist_and_cannot_be_deleted_or_renamed(store: AccountStore) -> None:
    groups = {g.name: g for g in store.list_groups()}
    assert groups["admin"].builtin and groups["admin"].rights == ALL_RIGHTS
    assert groups["user"].builtin and groups["user"].rights == USER_RIGHTS
    for name in ("admin", "USER"):
        with pytest.raises(BuiltinGroupProtected, match="cannot be deleted"):
            store.delete_group(name)
        with pytest.raises(BuiltinGroupProtected, match="cannot be renamed"):
            store.update_group(name, new_name="renamed")
    with pytest.raises(AdminRightsFixed):
        store.update_group("admin", rights=USER_RIGHTS)
    assert {g.name for g in store.list_groups()} >= {"admin", "user"}


# --- users and rights -----------------------------------------------------------------------

def test_user_rights_must_be_a_subset_of_the_group(store: AccountStore) -> None:
    store.create_group("operators", OPERATORS, "day shift")
    too_much = Rights(frozenset({SystemRight.CAMERA, SystemRight.REBOOT}))
    with pytest.raises(RightsNotSubset, match="reboot") as caught:
        store.create_user("olga", GOOD_PASSWORD, "operators", rights=too_much)
    assert "camera" not in caught.value.excess
    with pytest.raises(RightsNotSubset, match="ptz on channel 3"):
        store.create_user("olga", GOOD_PASSWORD, "operators",
                          rights=Rights(channels={3: frozenset({ChannelRight.PTZ})}))
    olga = store.create_user("olga", GOOD_PASSWORD, "operators",
                             rights=Rights(all_channels=LIVE))
    assert olga.rights == Rights(all_channels=LIVE)
    default = store.create_user("oscar", GOOD_PASSWORD, "operators")
    assert default.rights == OPERATORS  # no rights given: the group's
    with pytest.raises(RightsNotSubset):
        store.update_user("olga", rights=too_much)


def test_admin_group_users_always_hold_every_right(store: AccountStore) -> None:
    with pytest.raises(AdminRightsFixed):
        store.create_user("ada", GOOD_PASSWORD, "admin", rights=USER_RIGHTS)
    ada = store.create_user("ada", GOOD_PASSWORD, "admin")
    assert ada.rights == ALL_RIGHTS
    moved = store.update_user("ada", group="user")
    assert moved.rights == USER_RIGHTS  # a move without rights takes the new group's
    back = store.update_user("ada", group="Admin")
    assert back.group == "admin" and back.rights == ALL_RIGHTS


def test_shrinking_a_group_clips_its_users(store: AccountStore) -> None:
    store.create_group("operators", OPERATORS)
    store.create_user("olga", GOOD_PASSWORD, "operators")
    store.create_user("otto", GOOD_PASSWORD, "operators", rights=Rights(all_channels=LIVE))
    smaller = Rights(frozenset({SystemRight.LOG_VIEW}), LIVE)
    change = store.update_group("operators", rights=smaller)
    assert change.group.rights == smaller
    assert change.clipped_users == ("olga",)  # otto already held only a subset
    assert store.get_user("olga").rights == smaller
    assert store.get_user("otto").rights == Rights(all_channels=LIVE)
    # Growing the group again does not grow its users.
    assert store.update_group("operators", rights=OPERATORS).clipped_users == ()
    assert store.get_user("olga").rights == smaller


def test_group_rename_and_delete(store: AccountStore) -> None:
    store.create_group("night", USER_RIGHTS)
    store.create_user("nina", GOOD_PASSWORD, "night")
    with pytest.raises(NameTaken):
        store.update_group("night", new_name="USER")
    change = store.update_group("night", new_name="nights", description="22–06")
    assert change.group.name == "nights"
    assert store.get_user("nina").group == "nights"  # the rename reached the user
    with pytest.raises(GroupNotEmpty, match="nina"):
        store.delete_group("nights")
    store.delete_user("nina")
    store.delete_group("nights")
    with pytest.raises(GroupNotFound):
        store.get_group("nights")


def test_last_enabled_admin_is_protected(store: AccountStore) -> None:
    with pytest.raises(LastAdmin, match="deleted"):
        store.delete_user("admin")
    with pytest.raises(LastAdmin, match="disabled"):
        store.update_user("admin", enabled=False)
    with pytest.raises(LastAdmin, match="moved out"):
        store.update_user("admin", group="user")
    store.create_user("root", GOOD_PASSWORD, "admin")
    store.update_user("admin", enabled=False)  # another enabled admin exists now
    with pytest.raises(LastAdmin):
        store.delete_user("root")
    store.update_user("admin", enabled=True)
    store.delete_user("root")
    assert store.initialized()


def test_usernames_ignore_case_and_keep_their_spelling(store: AccountStore) -> None:
    store.create_user("Bob.Smith", GOOD_PASSWORD)
    with pytest.raises(NameTaken):
        store.create_user("bob.smith", GOOD_PASSWORD)
    assert store.get_user("BOB.SMITH").name == "Bob.Smith"
    assert store.authenticate("bob.SMITH", GOOD_PASSWORD).name == "Bob.Smith"
    with pytest.raises(NameTaken):
        store.create_group("ADMIN", USER_RIGHTS)


@pytest.mark.parametrize("name", ["", "x" * 33, "-dash", "with space", "ünï", "a/b", "a'b"])
def test_bad_usernames_are_refused(store: AccountStore, name: str) -> None:
    with pytest.raises(InvalidName):
        store.create_user(name, GOOD_PASSWORD)


def test_password_policy_is_enforced_with_the_username(store: AccountStore) -> None:
    with pytest.raises(PasswordPolicyError, match="username"):
        store.create_user("tracy", "Tracy#2024")
    store.create_user("tracy", GOOD_PASSWORD)
    with pytest.raises(PasswordPolicyError, match="at least 8"):
        store.set_password("tracy", "Ab1$")


def test_passwords_change_own_and_admin_reset(store: AccountStore, clock: FakeClock) -> None:
    created = store.create_user("pat", GOOD_PASSWORD)
    clock.advance(days=1)
    with pytest.raises(WrongOldPassword):
        store.change_own_password("pat", "Not-the-0ld", "New-Pass9x")
    changed = store.change_own_password("pat", GOOD_PASSWORD, "a1b2c3d4e5")
    assert changed.password_changed_us == created.password_changed_us + 86_400_000_000
    assert changed.password_strength is Strength.WEAK
    store.authenticate("pat", "a1b2c3d4e5")
    store.set_password("pat", "Reset#Pass7")  # an administrator's reset: no old password
    with pytest.raises(AuthenticationFailed):
        store.authenticate("pat", "a1b2c3d4e5")
    assert store.authenticate("pat", "Reset#Pass7").name == "pat"


def test_listings_carry_no_hashes(store: AccountStore) -> None:
    user = store.get_user("admin")
    assert not any("scrypt" in str(getattr(user, f)) for f in user.__slots__)
    issued = store.issue_token("admin", "vms")
    assert issued.secret not in repr(issued)
    for token in store.list_tokens():
        assert issued.secret not in repr(token)


# --- authentication -------------------------------------------------------------------------

def test_unknown_user_and_wrong_password_fail_alike(store: AccountStore,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    kdf_runs: list[str] = []
    real_verify = store_module.verify_password

    def counting_verify(password: str, encoded: str) -> bool:
        kdf_runs.append(encoded)
        return real_verify(password, encoded)

    monkeypatch.setattr(store_module, "verify_password", counting_verify)
    with pytest.raises(AuthenticationFailed) as unknown:
        store.authenticate("nobody", ADMIN_PASSWORD)
    with pytest.raises(AuthenticationFailed) as wrong:
        store.authenticate("admin", "Wrong#Pass1")
    assert str(unknown.value) == str(wrong.value)
    assert unknown.value.code == wrong.value.code
    assert unknown.value.reason is FailureReason.UNKNOWN_USER
    assert wrong.value.reason is FailureReason.WRONG_PASSWORD
    assert unknown.value.counts_as_guess and wrong.value.counts_as_guess
    # The KDF ran for the unknown user too, against a hash of the same cost.
    assert len(kdf_runs) == 2
    assert kdf_runs[0].split("$")[:4] == kdf_runs[1].split("$")[:4]
    assert kdf_runs[0] != kdf_runs[1]


def test_successful_login_records_the_time(store: AccountStore, clock: FakeClock) -> None:
    assert store.get_user("admin").last_login_us is None
    user = store.authenticate("admin", ADMIN_PASSWORD)
    assert user.last_login_us == int(clock.now.timestamp()) * 1_000_000


def test_disabled_user_is_refused_with_the_same_error(store: AccountStore) -> None:
    store.create_user("dora", GOOD_PASSWORD, enabled=False)
    with pytest.raises(AuthenticationFailed) as caught:
        store.authenticate("dora", GOOD_PASSWORD)
    assert caught.value.reason is FailureReason.DISABLED
    assert not caught.value.counts_as_guess
    with pytest.raises(AuthenticationFailed) as guessed:
        store.authenticate("dora", "Wrong#Pass1")
    assert guessed.value.reason is FailureReason.WRONG_PASSWORD  # no hint it is disabled
    assert str(caught.value) == str(guessed.value)
    store.update_user("dora", enabled=True)
    assert store.authenticate("dora", GOOD_PASSWORD).enabled


def test_login_window_outside_and_inside(make_store: MakeStore, clock: FakeClock) -> None:
    store = make_store(timezone="Europe/Berlin")
    store.initialize(ADMIN_PASSWORD)
    windows = LoginWindows.from_json(
        [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "18:00"}])
    store.create_user("wendy", GOOD_PASSWORD, login_windows=windows)
    wednesday_noon_berlin = clock.now - timedelta(hours=1)  # 11:00 UTC = 12:00 CET
    assert store.authenticate("wendy", GOOD_PASSWORD, now=wednesday_noon_berlin).name == "wendy"
    evening = wednesday_noon_berlin.replace(hour=17, minute=30)  # 18:30 in Berlin
    with pytest.raises(AuthenticationFailed) as caught:
        store.authenticate("wendy", GOOD_PASSWORD, now=evening)
    assert caught.value.reason is FailureReason.OUTSIDE_LOGIN_WINDOW
    store.set_timezone("UTC")  # 17:30 UTC is inside when the box runs on UTC
    assert store.authenticate("wendy", GOOD_PASSWORD, now=evening).name == "wendy"
    store.update_user("wendy", login_windows=None)  # removed: any time
    assert store.get_user("wendy").login_windows is None
    store.update_user("wendy", description="kept")  # KEEP default leaves windows alone
    assert store.get_user("wendy").login_windows is None


def test_hash_is_upgraded_at_login_when_parameters_change(make_store: MakeStore) -> None:
    old = make_store()
    old.initialize(ADMIN_PASSWORD)
    old.close()
    stronger = ScryptParams(n=32, r=1, p=1)
    new = make_store(params=stronger)
    new.authenticate("admin", ADMIN_PASSWORD)
    stored = new._db.execute("SELECT password_hash FROM users").fetchone()[0]
    assert stored.startswith("scrypt$32$1$1$")
    assert new.authenticate("admin", ADMIN_PASSWORD).name == "admin"


def test_corrupt_stored_hash_fails_closed(store: AccountStore) -> None:
    store._db.execute("UPDATE users SET password_hash = 'garbage' WHERE name = 'admin'")
    with pytest.raises(AuthenticationFailed) as caught:
        store.authenticate("admin", ADMIN_PASSWORD)
    assert caught.value.reason is FailureReason.BAD_STORED_HASH


def test_real_parameters_authentication_timing(make_store: MakeStore,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Production scrypt parameters end to end; times are printed, not asserted."""
    store = make_store(params=DEFAULT_PARAMS)
    store.initialize(ADMIN_PASSWORD)
    timings = {}
    for label, name, password in [("success", "admin", ADMIN_PASSWORD),
                                  ("wrong password", "admin", "Wrong#Pass1"),
                                  ("unknown user", "nobody", "Wrong#Pass1")]:
        started = time.perf_counter()
        with contextlib.suppress(AuthenticationFailed):
            store.authenticate(name, password)
        timings[label] = time.perf_counter() - started
    assert store.authenticate("admin", ADMIN_PASSWORD).name == "admin"
    with capsys.disabled():
        print("\nauthenticate with real parameters: "
              + ", ".join(f"{k} {v:.3f} s" for k, v in timings.items()))


# --- acting users (no privilege escalation) -------------------------------------------------

def test_actor_needs_the_accounts_right_and_cannot_escalate(store: AccountStore) -> None:
    admin = store.get_user("admin")
    store.create_group("operators", OPERATORS, actor=admin)
    olga = store.create_user("olga", GOOD_PASSWORD, "operators", actor=admin)
    viewer = store.create_user("vic", GOOD_PASSWORD, actor=admin)
    with pytest.raises(Forbidden, match="accounts right"):
        store.create_user("eve", GOOD_PASSWORD, actor=viewer)
    # olga holds "accounts" but not everything: she cannot make an administrator ...
    with pytest.raises(Forbidden, match="rights you do not hold"):
        store.create_user("eve", GOOD_PASSWORD, "admin", actor=olga)
    # ... nor reset the administrator's password, nor touch the admin group.
    with pytest.raises(Forbidden, match="holds rights you do not"):
        store.set_password("admin", "Taken#Over9", actor=olga)
    with pytest.raises(Forbidden):
        store.update_group("user", rights=ALL_RIGHTS, actor=olga)
    # Within her own rights she may manage users.
    store.update_user("vic", rights=Rights(all_channels=LIVE), actor=olga)
    # A disabled actor may do nothing, even if the web layer still holds its User.
    store.update_user("olga", enabled=False, actor=admin)
    with pytest.raises(Forbidden, match="disabled"):
        store.delete_user("vic", actor=olga)


# --- API tokens -----------------------------------------------------------------------------

def test_token_shown_once_verified_and_revoked(store: AccountStore, clock: FakeClock) -> None:
    issued = store.issue_token("admin", "vms integration")
    assert issued.secret.startswith("nvrd_") and len(issued.secret) > 40
    rows = store._db.execute("SELECT * FROM api_tokens").fetchall()
    assert not any(issued.secret in str(col) for row in rows for col in row)
    auth = store.verify_token(issued.secret)
    assert auth.user.name == "admin" and auth.token.name == "vms integration"
    assert auth.token.last_used_us is not None
    assert [t.id for t in store.list_tokens("admin")] == [issued.token.id]
    with pytest.raises(AuthenticationFailed) as caught:
        store.verify_token(issued.secret[:-1] + ("A" if issued.secret[-1] != "A" else "B"))
    assert caught.value.reason is FailureReason.UNKNOWN_TOKEN
    store.revoke_token(issued.token.id)
    with pytest.raises(AuthenticationFailed):
        store.verify_token(issued.secret)
    with pytest.raises(TokenNotFound):
        store.revoke_token(issued.token.id)


def test_token_expiry(store: AccountStore, clock: FakeClock) -> None:
    now_us = int(clock.now.timestamp()) * 1_000_000
    with pytest.raises(InvalidValue, match="future"):
        store.issue_token("admin", "late", expires_us=now_us)
    issued = store.issue_token("admin", "short", expires_us=now_us + 3_600_000_000)
    store.verify_token(issued.secret)
    clock.advance(hours=1)
    with pytest.raises(AuthenticationFailed) as caught:
        store.verify_token(issued.secret)
    assert caught.value.reason is FailureReason.EXPIRED_TOKEN


def test_token_follows_its_user(store: AccountStore) -> None:
    store.create_user("svc", GOOD_PASSWORD)
    issued = store.issue_token("svc", "nightly export")
    store.update_user("svc", enabled=False)
    with pytest.raises(AuthenticationFailed) as caught:
        store.verify_token(issued.secret)
    assert caught.value.reason is FailureReason.DISABLED
    store.update_user("svc", enabled=True)
    assert store.verify_token(issued.secret).user.rights == USER_RIGHTS
    store.delete_user("svc")
    assert store.list_tokens() == []
    with pytest.raises(AuthenticationFailed):
        store.verify_token(issued.secret)


def test_users_manage_their_own_tokens_only(store: AccountStore) -> None:
    alice = store.create_user("alice", GOOD_PASSWORD)
    store.create_user("bob", GOOD_PASSWORD)
    mine = store.issue_token("alice", "phone", actor=alice)
    with pytest.raises(Forbidden):
        store.issue_token("bob", "sneaky", actor=alice)
    theirs = store.issue_token("bob", "laptop")
    with pytest.raises(Forbidden):
        store.revoke_token(theirs.token.id, actor=alice)
    store.revoke_token(mine.token.id, actor=alice)
    assert [t.name for t in store.list_tokens()] == ["laptop"]


# --- persistence ----------------------------------------------------------------------------

def test_data_survives_reopen(make_store: MakeStore) -> None:
    first = make_store()
    first.initialize(ADMIN_PASSWORD)
    first.create_group("operators", OPERATORS, "day shift")
    first.create_user("olga", GOOD_PASSWORD, "operators",
                      login_windows=LoginWindows.from_json(
                          [{"days": ["sat"], "start": "10:00", "end": "12:00"}]))
    issued = first.issue_token("olga", "tablet")
    first.close()
    second = make_store()
    assert second.initialized()
    olga = second.get_user("olga")
    assert olga.group == "operators" and olga.rights == OPERATORS
    assert olga.login_windows is not None
    assert olga.login_windows.to_json()[0]["days"] == ["sat"]
    assert second.get_group("operators").description == "day shift"
    assert second.verify_token(issued.secret, now=_saturday_11()).user.name == "olga"
    with pytest.raises(AlreadyInitialized):
        second.initialize(ADMIN_PASSWORD)


def test_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "accounts.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('schema_version', 99)")
    db.close()
    with pytest.raises(StoreVersionError, match="99"):
        AccountStore(path)


def test_unknown_user_lookups(store: AccountStore) -> None:
    with pytest.raises(UserNotFound, match="'ghost'"):
        store.get_user("ghost")
    with pytest.raises(UserNotFound):
        store.change_own_password("ghost", GOOD_PASSWORD, "Other#Pass9")


def _saturday_11() -> datetime:
    return datetime(2026, 3, 7, 11, 0, tzinfo=UTC)
