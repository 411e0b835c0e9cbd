"""Accounts core: rights, password policy and hashing, the account store, login windows and
the login lockout. No HTTP here: the web layer, the API and the console all call this
package, so the account rules live in one place (see ``store.py`` for the numbered rules).

Everything that touches SQLite or the KDF blocks; async callers use ``asyncio.to_thread``.
"""
