"""User accounts in the library and the `gridgis user` commands, against the real database."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text
from typer.testing import CliRunner

from gridgis import auth
from gridgis.accounts import passwords, sessions, users
from gridgis.accounts.login import LoginPolicy, login
from gridgis.cli import app
from gridgis.cli.user import DEV_USERS, issue_dev_users
from gridgis.errors import Conflict, InvalidCredentials, InvalidInput, LoginLocked, NotFound
from gridgis.vocabulary import KEY_ROLES, USER_ROLES

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
PASSWORD = "a long enough secret"
POLICY = LoginPolicy(max_failures=3, window_s=60, lock_s=120, idle_s=600, max_s=3600)


def test_user_roles_are_the_permission_tables_roles() -> None:
    assert set(USER_ROLES) <= set(KEY_ROLES)
    for role in USER_ROLES:
        assert auth.permissions_of(role)


def test_names_are_unique_ignoring_case(conn: Connection) -> None:
    users.create_user(conn, name="Lin.Xiao", role="dispatcher", password=PASSWORD)
    with pytest.raises(Conflict):
        users.create_user(conn, name="lin.xiao", role="planner", password=PASSWORD)


@pytest.mark.parametrize("name", ["", " lin", "lin xiao", "-lin", "x" * 65, "林晓", "a;drop"])
def test_bad_names_are_refused(conn: Connection, name: str) -> None:
    with pytest.raises(InvalidInput) as error:
        users.create_user(conn, name=name, role="dispatcher", password=PASSWORD)
    assert error.value.field == "name"


@pytest.mark.parametrize("role", ["system", "root", ""])
def test_only_people_roles(conn: Connection, role: str) -> None:
    with pytest.raises(InvalidInput) as error:
        users.create_user(conn, name="someone", role=role, password=PASSWORD)
    assert error.value.field == "role"


@pytest.mark.parametrize("password", ["short", "x" * 1025])
def test_password_length_policy(conn: Connection, password: str) -> None:
    with pytest.raises(InvalidInput) as error:
        users.create_user(conn, name="someone", role="admin", password=password)
    assert error.value.field == "password"


def test_the_table_refuses_what_the_code_would_refuse(conn: Connection) -> None:
    """The constraints live with the data, not only in create_user."""
    for name, role, password_hash in [
        ("system-user", "system", "$argon2id$v=19$x"),
        ("bad name", "admin", "$argon2id$v=19$x"),
        ("clear-text", "admin", "hunter2hunter2"),
    ]:
        savepoint = conn.begin_nested()
        with pytest.raises(Exception, match="ck_users_"):
            conn.execute(
                text("INSERT INTO users (name, role, password_hash) VALUES (:n, :r, :h)"),
                {"n": name, "r": role, "h": password_hash},
            )
        savepoint.rollback()


def test_hashes_verify_and_differ() -> None:
    first, second = passwords.hash_password(PASSWORD), passwords.hash_password(PASSWORD)
    assert first != second  # salted
    assert first.startswith("$argon2id$") and PASSWORD not in first
    assert passwords.verify_password(first, PASSWORD)
    assert not passwords.verify_password(first, PASSWORD + "!")
    assert not passwords.verify_password(None, PASSWORD)
    assert not passwords.verify_password("not a hash", PASSWORD)


def _login(conn: Connection, name: str, password: str, at: datetime, addr: str = "10.0.0.1"):  # type: ignore[no-untyped-def]
    return login(conn, name, password, now=at, client_addr=addr, policy=POLICY)


def test_sessions_follow_the_idle_and_absolute_limits(conn: Connection) -> None:
    users.create_user(conn, name="duty", role="dispatcher", password=PASSWORD)
    token, session = _login(conn, "duty", PASSWORD, NOW)
    assert session.expires_in_s(NOW) == 600
    at = NOW + timedelta(seconds=599)
    assert sessions.lookup(conn, token, at) is not None
    # Each use moves the idle deadline, never past the absolute one.
    for _ in range(5):
        at += timedelta(seconds=590)
        seen = sessions.lookup(conn, token, at)
        assert seen is not None, at
        assert seen.expires_at == min(at + timedelta(seconds=600), NOW + timedelta(hours=1))
    with pytest.raises(Exception, match="ended"):
        sessions.check(conn, token, NOW + timedelta(hours=1))
    assert sessions.lookup(conn, token, NOW + timedelta(hours=1)) is None


def test_an_idle_session_ends(conn: Connection) -> None:
    users.create_user(conn, name="duty", role="dispatcher", password=PASSWORD)
    token, _ = _login(conn, "duty", PASSWORD, NOW)
    assert sessions.lookup(conn, token, NOW + timedelta(seconds=600)) is None
    assert conn.execute(text("SELECT COUNT(*) FROM user_sessions")).scalar_one() == 0


def test_lock_window_and_release(conn: Connection) -> None:
    users.create_user(conn, name="duty", role="dispatcher", password=PASSWORD)
    # Failures spread wider than the window never add up to a lock.
    for i in range(6):
        with pytest.raises(InvalidCredentials):
            _login(conn, "duty", "wrong password", NOW + timedelta(seconds=61 * i))
    at = NOW + timedelta(minutes=10)
    for i in range(3):
        with pytest.raises(InvalidCredentials):
            _login(conn, "DUTY", "wrong password", at + timedelta(seconds=i))
    with pytest.raises(LoginLocked) as locked:
        _login(conn, "duty", PASSWORD, at + timedelta(seconds=10))
    assert locked.value.retry_after_s == 120 - 8
    token, _ = _login(conn, "duty", PASSWORD, at + timedelta(seconds=122))
    assert sessions.lookup(conn, token, at + timedelta(seconds=123)) is not None


def test_disable_and_reset_end_sessions(conn: Connection) -> None:
    users.create_user(conn, name="duty", role="planner", password=PASSWORD)
    token, _ = _login(conn, "duty", PASSWORD, NOW)
    users.reset_password(conn, "duty", "another good secret", now=NOW)
    assert sessions.lookup(conn, token, NOW) is None
    with pytest.raises(InvalidCredentials):
        _login(conn, "duty", PASSWORD, NOW)
    token, _ = _login(conn, "duty", "another good secret", NOW)
    users.disable_user(conn, "duty", now=NOW)
    assert sessions.lookup(conn, token, NOW) is None
    with pytest.raises(InvalidCredentials):
        _login(conn, "duty", "another good secret", NOW)
    users.enable_user(conn, "duty")
    _login(conn, "duty", "another good secret", NOW)
    with pytest.raises(NotFound):
        users.disable_user(conn, "nobody", now=NOW)


def test_dev_users_are_made_once_and_kept_private(conn: Connection, tmp_path: Path) -> None:
    created = issue_dev_users(conn, tmp_path)
    assert set(created) == set(DEV_USERS)
    path = tmp_path / "dev-users"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kept = dict(line.split(" ", 1) for line in path.read_text().splitlines())
    assert kept == created
    for name, password in created.items():
        _, session = _login(conn, name, password, NOW)
        assert session.role == DEV_USERS[name]
    assert issue_dev_users(conn, tmp_path) == {}  # a second `gridgis up` keeps them


# -- the `gridgis user` commands ------------------------------------------------------------
CLI_NAMES = ("cli-dispatcher", "cli-planner", "cli-admin")


@pytest.fixture()
def cli(
    engine: Engine, test_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    """A runner whose commands write (and commit) to the test database; their users go after."""
    monkeypatch.setenv("GRIDGIS_DATABASE_URL", test_database_url)
    monkeypatch.setenv("GRIDGIS_ENV", "test")
    yield CliRunner()
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM users WHERE name LIKE 'cli-%'"))


def _stored(engine: Engine, name: str) -> str:
    with engine.connect() as connection:
        return str(
            connection.execute(
                text("SELECT password_hash FROM users WHERE name = :n"), {"n": name}
            ).scalar_one()
        )


def test_cli_create_with_password_stdin(cli: CliRunner, engine: Engine) -> None:
    result = cli.invoke(
        app,
        ["user", "create", "--name", "cli-dispatcher", "--role", "dispatcher", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    stored = _stored(engine, "cli-dispatcher")
    assert passwords.verify_password(stored, PASSWORD)
    again = cli.invoke(
        app,
        ["user", "create", "--name", "CLI-Dispatcher", "--role", "planner", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert again.exit_code == 1 and "exists" in again.output


def test_cli_create_with_prompt_and_generate(cli: CliRunner, engine: Engine) -> None:
    prompted = cli.invoke(
        app,
        ["user", "create", "--name", "cli-planner", "--role", "planner"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert prompted.exit_code == 0, prompted.output
    assert passwords.verify_password(_stored(engine, "cli-planner"), PASSWORD)
    generated = cli.invoke(
        app, ["user", "create", "--name", "cli-admin", "--role", "admin", "--generate"]
    )
    assert generated.exit_code == 0, generated.output
    shown = generated.output.strip().splitlines()[-1]
    assert len(shown) >= 20
    assert passwords.verify_password(_stored(engine, "cli-admin"), shown)


def test_cli_refuses_bad_input_without_writing(cli: CliRunner, engine: Engine) -> None:
    for args, stdin in [
        (["--name", "cli-x", "--role", "system", "--password-stdin"], PASSWORD),
        (["--name", "cli x", "--role", "admin", "--password-stdin"], PASSWORD),
        (["--name", "cli-x", "--role", "admin", "--password-stdin"], "short"),
        (["--name", "cli-x", "--role", "admin", "--password-stdin", "--generate"], PASSWORD),
    ]:
        result = cli.invoke(app, ["user", "create", *args], input=stdin + "\n")
        assert result.exit_code == 1, (args, result.output)
        assert "error" in result.output
    with engine.connect() as connection:
        count = connection.execute(text("SELECT COUNT(*) FROM users WHERE name LIKE 'cli-%'"))
        assert count.scalar_one() == 0


def test_cli_list_disable_reset(cli: CliRunner, engine: Engine) -> None:
    made = cli.invoke(
        app,
        ["user", "create", "--name", "cli-dispatcher", "--role", "dispatcher", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert made.exit_code == 0, made.output
    listed = cli.invoke(app, ["user", "list"])
    assert listed.exit_code == 0 and "cli-dispatcher" in listed.output
    assert "$argon2" not in listed.output
    reset = cli.invoke(
        app,
        ["user", "reset-password", "cli-dispatcher", "--password-stdin"],
        input="a brand new secret\n",
    )
    assert reset.exit_code == 0, reset.output
    assert passwords.verify_password(_stored(engine, "cli-dispatcher"), "a brand new secret")
    disabled = cli.invoke(app, ["user", "disable", "cli-dispatcher"])
    assert disabled.exit_code == 0, disabled.output
    assert cli.invoke(app, ["user", "disable", "cli-nobody"]).exit_code == 1
    with engine.connect() as connection:
        actions = connection.execute(
            text(
                "SELECT action, actor FROM audit_log WHERE entity = 'user' AND entity_id = "
                "(SELECT CAST(id AS text) FROM users WHERE name = 'cli-dispatcher') ORDER BY id"
            )
        ).all()
    assert [tuple(a) for a in actions] == [
        ("user.create", "cli"),
        ("user.reset_password", "cli"),
        ("user.disable", "cli"),
    ]


def test_old_counts_are_forgotten(conn: Connection) -> None:
    users.create_user(conn, name="duty", role="dispatcher", password=PASSWORD)
    for i in range(2):
        with pytest.raises(InvalidCredentials):
            _login(conn, f"typo-{i}", PASSWORD, NOW)
    assert conn.execute(text("SELECT COUNT(*) FROM login_throttles")).scalar_one() == 3
    _login(conn, "duty", PASSWORD, NOW + timedelta(seconds=61))
    assert conn.execute(text("SELECT COUNT(*) FROM login_throttles")).scalar_one() == 0
