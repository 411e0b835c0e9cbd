"""Wiping the account store: back to the first-boot state in one transaction, with no
trace of the old password hashes left in the file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from nvrd.accounts.rights import ADMIN_GROUP, ALL_RIGHTS, USER_GROUP, USER_RIGHTS, Rights
from nvrd.accounts.store import AccountStore
from tests.accounts.helpers import ADMIN_PASSWORD, GOOD_PASSWORD, MakeStore


def _hash_salts(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[0].split("$")[4] for row in db.execute("SELECT password_hash FROM users")]


def test_wipe_leaves_a_first_boot_store(store: AccountStore, make_store: MakeStore) -> None:
    store.create_group("guards", Rights.from_json({"system": ["log_view"]}))
    store.create_user("guard1", GOOD_PASSWORD, "guards")
    store.update_group(USER_GROUP, rights=Rights())  # the built-in group changed
    store.issue_token("admin", "nms")
    salts = _hash_salts(store.path)
    assert len(salts) == 2 and store.initialized()

    store.wipe()

    assert not store.initialized()
    assert store.list_users() == [] and store.list_tokens() == []
    groups = {g.name: g for g in store.list_groups()}
    assert set(groups) == {ADMIN_GROUP, USER_GROUP}
    assert groups[ADMIN_GROUP].rights == ALL_RIGHTS and groups[USER_GROUP].rights == USER_RIGHTS
    assert all(g.builtin for g in groups.values())
    files = [store.path, store.path.with_name(store.path.name + "-wal")]
    content = b"".join(f.read_bytes() for f in files if f.exists())
    assert not any(salt.encode() in content for salt in salts)

    # first boot again, and it survives reopening
    store.initialize(ADMIN_PASSWORD, username="root")
    store.close()
    again = make_store()
    assert [u.name for u in again.list_users()] == ["root"]
