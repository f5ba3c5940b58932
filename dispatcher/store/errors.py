"""The store's failures, told apart: trouble that passes by itself, and everything else.

Every caller that waits store trouble out (the AMQP consumer, the result writer, the
event publisher, the scheduler) asks `is_transient`; a failure it says no to is a bug or
bad data, which retrying cannot fix.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

__all__ = ["describe_error", "is_transient"]

# SQLSTATE classes that pass by themselves: connection exception, transaction rollback
# (serialization failure, deadlock), insufficient resources, operator intervention
# (shutdown, cannot connect now), system error.
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
# SQLite primary result codes of the same kind: BUSY, LOCKED, NOMEM, READONLY, IOERR,
# FULL, CANTOPEN, PROTOCOL. SQLITE_ERROR (bad SQL, a missing table) is a bug's.
_TRANSIENT_SQLITE_CODES = frozenset({5, 6, 7, 8, 10, 13, 14, 15})


def is_transient(error: BaseException) -> bool:
    """True for store trouble that passes by itself: a lost or refused connection, a locked
    SQLite file, a serialization failure or deadlock, a server shutting down, a timeout.

    False for errors that retrying cannot fix: a constraint violation, a value the schema
    refuses, SQL the server does not understand, and every exception that is not the
    store's.
    """
    if isinstance(error, OSError | PoolTimeout):  # OSError includes TimeoutError
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    # PostgreSQL drivers classify by SQLSTATE; asyncpg's unclassified errors arrive as a
    # bare DBAPIError, so the class alone would not tell a shutdown from a bad value.
    sqlstate = getattr(error.orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES
    # sqlite3 calls a syntax error and a locked file both OperationalError; its code tells.
    sqlite_code = getattr(error.orig, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        return sqlite_code & 0xFF in _TRANSIENT_SQLITE_CODES
    return isinstance(error, OperationalError | InterfaceError)


def describe_error(error: BaseException) -> str:
    """`Type: message` for a log line, without SQL parameters (a warning's raw body)."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    return f"{type(error).__name__}: {cause}"
