"""The CLI: every command has help; tenants and keys from the shell (the demo: ``test_demo.py``)."""

from __future__ import annotations

import asyncio
import re

import click
from click.testing import CliRunner

from app.cli import cli


def _walk(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _walk(command, (*prefix, name))


def test_every_command_has_help():
    runner = CliRunner()
    for path, command in _walk(cli):
        assert (command.help or "").strip(), f"bnpl {' '.join(path)} has no help"
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, result.output


async def invoke(*args: str):
    """Commands call anyio.run, so they run in a thread of their own, as from a shell."""
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args))


async def test_operators_create_prints_a_working_admin_key(committed_db, committed_client):
    result = await invoke("operators", "create", "--name", "Shell BNPL")
    assert result.exit_code == 0, result.output
    key = re.search(r"(sk_admin_\S+)", result.output).group(1)
    r = await committed_client.get("/admin/v1/operator", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200 and r.json()["name"] == "Shell BNPL"


async def test_keys_create_and_revoke(committed_db, committed_client):
    out = (await invoke("operators", "create", "--name", "K")).output
    operator_id = re.search(r"(opr_\w+)", out).group(1)
    merchant_out = (await invoke("merchants", "create", "--operator", operator_id, "--name", "S")).output
    merchant_id = re.search(r"(mch_\w+)", merchant_out).group(1)
    created = await invoke("keys", "create", "--role", "merchant", "--operator", operator_id, "--merchant", merchant_id)
    assert created.exit_code == 0, created.output
    secret = re.search(r"(sk_mch_\S+)", created.output).group(1)
    key_id = re.search(r"(key_\w+)", created.output).group(1)
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await committed_client.get("/v1/merchant", headers=headers)).json()["id"] == merchant_id
    assert (await invoke("keys", "revoke", key_id)).exit_code == 0
    assert (await committed_client.get("/v1/merchant", headers=headers)).status_code == 401


async def test_keys_create_rejects_a_merchant_key_without_merchant(committed_db):
    out = (await invoke("operators", "create", "--name", "K2")).output
    operator_id = re.search(r"(opr_\w+)", out).group(1)
    result = await invoke("keys", "create", "--role", "merchant", "--operator", operator_id)
    assert result.exit_code != 0
