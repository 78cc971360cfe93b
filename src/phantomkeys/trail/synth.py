"""Realistic synthetic CloudTrail, in the real delivery shape.

Used by the benchmark (``benchmarks/hunt.py``) and by tests that need volume.
CloudTrail delivers one gzipped ``{"Records": [...]}`` file per account,
region and ~5 minutes under ``AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/``
named ``<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<16 chars>.json.gz``
(docs/aws-facts.md "CloudTrail"), so a day of a busy organization is thousands of small files:
exactly the shape where per-file overhead, not parsing, dominates.

Most traffic is ordinary management noise (EC2, STS, KMS, S3 bucket reads, IAM
reads) from roles and the CLI/SDKs; a share is legitimate Bedrock use through
SigV4 and through API keys. With ``attack=True`` one LLMjacking story is woven
in (a phantom user's key leaks and is abused), so a benchmark can check that
the pack still finds it at volume.

Pure: randomness comes from a seeded :class:`random.Random`, time is passed in.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from phantomkeys.surfaces import BEDROCK

DELIVERY_MINUTES = 5

_NOISE: tuple[tuple[str, str, bool], ...] = (
    ("ec2.amazonaws.com", "DescribeInstances", True),
    ("ec2.amazonaws.com", "DescribeSecurityGroups", True),
    ("ec2.amazonaws.com", "DescribeVolumes", True),
    ("sts.amazonaws.com", "AssumeRole", True),
    ("sts.amazonaws.com", "GetCallerIdentity", True),
    ("kms.amazonaws.com", "Decrypt", True),
    ("kms.amazonaws.com", "GenerateDataKey", True),
    ("s3.amazonaws.com", "GetBucketAcl", True),
    ("s3.amazonaws.com", "ListBuckets", True),
    ("logs.amazonaws.com", "CreateLogStream", False),
    ("lambda.amazonaws.com", "ListFunctions20150331", True),
    ("iam.amazonaws.com", "GetRole", True),
    ("iam.amazonaws.com", "ListRoles", True),
    ("ssm.amazonaws.com", "GetParameter", True),
    ("secretsmanager.amazonaws.com", "GetSecretValue", True),
    ("cloudwatch.amazonaws.com", "PutMetricData", False),
)

_USER_AGENTS = (
    "aws-cli/2.17.20 md/awscrt#0.20.11 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.9",
    "Boto3/1.35.10 md/Botocore#1.35.10 ua/2.0 os/linux#5.10.223 md/arch#x86_64 "
    "lang/python#3.12.4 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.10",
    "aws-sdk-java/2.26.12 Linux/5.10.220 OpenJDK_64-Bit_Server_VM/17.0.11+9-LTS "
    "Java/17.0.11 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/adaptive",
    "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.171.0",
    "console.amazonaws.com",
    "AWS Internal",
)

_MODELS = (
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
    "anthropic.claude-3-haiku-20240307-v1:0",
    "amazon.titan-embed-text-v2:0",
    "meta.llama3-1-70b-instruct-v1:0",
)

_ROLES = ("app-backend", "data-pipeline", "ci-deployer", "OrganizationAccountAccessRole")


@dataclass(frozen=True, slots=True)
class SynthConfig:
    accounts: tuple[str, ...] = ("111122223333", "444455556666", "777788889999")
    regions: tuple[str, ...] = ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2")
    start: datetime = datetime(2026, 11, 28, tzinfo=UTC)
    #: Length of the period, in 5-minute delivery slots (288 per day).
    slots: int = 576
    #: Mean records per delivered file.
    records_per_file: int = 29
    #: Share of records that are Bedrock calls (SigV4 or API key).
    bedrock_share: float = 0.08
    attack: bool = True
    seed: int = 7
    #: When set, group this many consecutive slots into one file (large-file shape).
    slots_per_file: int = 1
    phantom_user: str = field(default="BedrockAPIKey-x7q2")


@dataclass(frozen=True, slots=True)
class SynthFile:
    """One delivered log file: its key under the bucket and its records."""

    key: str
    records: list[dict[str, Any]]


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class _Gen:
    def __init__(self, config: SynthConfig) -> None:
        self.c = config
        self.rng = random.Random(config.seed)

    def hex(self, n: int) -> str:
        return f"{self.rng.getrandbits(n * 4):0{n}x}"

    def uuid(self) -> str:
        h = self.hex(32)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def ip(self) -> str:
        r = self.rng
        first = r.choice((10, 172, 198, 203))
        return f"{first}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"

    def key_id(self, prefix: str) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
        return prefix + "".join(self.rng.choice(alphabet) for _ in range(16))

    def role_identity(self, account: str, t: datetime) -> dict[str, Any]:
        role = self.rng.choice(_ROLES)
        # Sessions are renewed hourly, so a role keeps one session name per hour.
        session = f"{role}-{(zlib.crc32(f'{account}{role}'.encode()) + t.hour) % 9000 + 1000}"
        principal = "AROA" + account[-4:] + role[:4].upper()
        return {
            "type": "AssumedRole",
            "principalId": f"{principal}:{session}",
            "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
            "accountId": account,
            "accessKeyId": self.key_id("ASIA"),
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": principal,
                    "arn": f"arn:aws:iam::{account}:role/{role}",
                    "accountId": account,
                    "userName": role,
                },
                "attributes": {
                    "creationDate": _iso(t - timedelta(minutes=self.rng.randrange(1, 55))),
                    "mfaAuthenticated": "false",
                },
            },
        }

    def user_identity(self, account: str, user: str) -> dict[str, Any]:
        return {
            "type": "IAMUser",
            "principalId": "AIDA" + self.hex(8).upper(),
            "arn": f"arn:aws:iam::{account}:user/{user}",
            "accountId": account,
            "accessKeyId": self.key_id("AKIA"),
            "userName": user,
        }

    def base(
        self, account: str, region: str, t: datetime, source: str, name: str, read_only: bool
    ) -> dict[str, Any]:
        service = source.split(".", 1)[0]
        return {
            "eventVersion": "1.10",
            "userIdentity": self.role_identity(account, t),
            "eventTime": _iso(t),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": self.ip(),
            "userAgent": self.rng.choice(_USER_AGENTS),
            "requestParameters": None,
            "responseElements": None,
            "requestID": self.uuid(),
            "eventID": self.uuid(),
            "readOnly": read_only,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": account,
            "eventCategory": "Management",
            "tlsDetails": {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": f"{service}.{region}.amazonaws.com",
            },
        }

    def noise(self, account: str, region: str, t: datetime) -> dict[str, Any]:
        source, name, ro = self.rng.choice(_NOISE)
        rec = self.base(account, region, t, source, name, ro)
        match name:
            case "DescribeInstances":
                rec["requestParameters"] = {
                    "instancesSet": {},
                    "filterSet": {
                        "items": [
                            {
                                "name": "instance-state-name",
                                "valueSet": {"items": [{"value": "running"}]},
                            }
                        ]
                    },
                }
            case "AssumeRole":
                rec["requestParameters"] = {
                    "roleArn": f"arn:aws:iam::{account}:role/{self.rng.choice(_ROLES)}",
                    "roleSessionName": f"s-{self.hex(8)}",
                    "durationSeconds": 3600,
                }
                rec["responseElements"] = {
                    "credentials": {
                        "accessKeyId": self.key_id("ASIA"),
                        "sessionToken": "IQoJb3JpZ2luX2VjE" + self.hex(40),
                        "expiration": "Nov 28, 2026, 11:00:00 AM",
                    },
                    "assumedRoleUser": {"assumedRoleId": "AROA" + self.hex(8).upper()},
                }
            case "Decrypt" | "GenerateDataKey":
                rec["requestParameters"] = {
                    "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                    "keyId": f"arn:aws:kms:{region}:{account}:key/{self.uuid()}",
                }
                rec["resources"] = [
                    {
                        "accountId": account,
                        "type": "AWS::KMS::Key",
                        "ARN": f"arn:aws:kms:{region}:{account}:key/{self.uuid()}",
                    }
                ]
            case "GetParameter" | "GetSecretValue":
                rec["requestParameters"] = {"name": f"/app/{self.hex(6)}", "withDecryption": True}
            case "GetRole":
                rec["requestParameters"] = {"roleName": self.rng.choice(_ROLES)}
            case _:
                pass
        return rec

    def bedrock(self, account: str, region: str, t: datetime) -> dict[str, Any]:
        name = self.rng.choice(
            (
                "InvokeModel",
                "InvokeModel",
                "Converse",
                "ConverseStream",
                "InvokeModelWithResponseStream",
                "ListFoundationModels",
            )
        )
        rec = self.base(
            account, region, t, BEDROCK.event_sources[0], name, name == "ListFoundationModels"
        )
        rec["tlsDetails"]["clientProvidedHostHeader"] = f"bedrock-runtime.{region}.amazonaws.com"
        if name != "ListFoundationModels":
            rec["requestParameters"] = {"modelId": self.rng.choice(_MODELS)}
            rec["additionalEventData"] = {
                "inputTokens": self.rng.randrange(50, 4000),
                "outputTokens": self.rng.randrange(10, 2000),
            }
        if self.rng.random() < 0.2:
            # Legitimate short-term key use: the signing role appears as the caller.
            rec.setdefault("additionalEventData", {})["callWithBearerToken"] = True
        return rec


def _file_key(account: str, region: str, t: datetime, suffix: str) -> str:
    return (
        f"AWSLogs/{account}/CloudTrail/{region}/{t:%Y/%m/%d}/"
        f"{account}_CloudTrail_{region}_{t:%Y%m%dT%H%M}Z_{suffix}.json.gz"
    )


def _attack_records(g: _Gen, account: str, start: datetime, slots: int) -> list[dict[str, Any]]:
    """An LLMjacking story around one phantom user (see module docstring)."""
    c = g.c
    user = c.phantom_user
    admin = g.user_identity(account, "alice.admin")
    t0 = start + timedelta(minutes=DELIVERY_MINUTES * max(1, slots // 10))
    out: list[dict[str, Any]] = []

    def iam(
        name: str, t: datetime, params: dict[str, Any], identity: dict[str, Any] | None = None
    ) -> None:
        rec = g.base(account, "us-east-1", t, "iam.amazonaws.com", name, False)
        rec["userIdentity"] = identity or admin
        rec["userAgent"] = "console.amazonaws.com"
        rec["requestParameters"] = params
        out.append(rec)

    iam("CreateUser", t0, {"userName": user})
    iam(
        "AttachUserPolicy",
        t0 + timedelta(seconds=2),
        {"userName": user, "policyArn": BEDROCK.managed_policy_arn()},
    )
    iam(
        "CreateServiceSpecificCredential",
        t0 + timedelta(seconds=3),
        {"userName": user, "serviceName": BEDROCK.credential_service},
    )

    key_user = g.user_identity(account, user)
    app_ip = "198.51.100.24"
    app_ua = _USER_AGENTS[1]
    # Legitimate use of the long-term key by the application, every ~10 minutes.
    for i in range(max(1, slots // 4)):
        t = t0 + timedelta(minutes=10 * i + 1)
        rec = g.base(account, "us-east-1", t, BEDROCK.event_sources[0], "Converse", False)
        rec["userIdentity"] = key_user
        rec["sourceIPAddress"] = app_ip
        rec["userAgent"] = app_ua
        rec["requestParameters"] = {"modelId": _MODELS[0]}
        rec["additionalEventData"] = {"callWithBearerToken": True, "inputTokens": 900}
        out.append(rec)

    # The key leaks. The attacker probes, then invokes in four regions at once,
    # 40 calls per region within four minutes straddling a 5-minute boundary:
    # 160 calls in total, yet no single region and no fixed 5-minute bucket
    # reaches 100.
    t_attack = t0 + timedelta(hours=2, minutes=3)
    evil_ip = "45.148.10.77"
    evil_ua = "python-requests/2.32.3"
    for j, name in enumerate(
        (
            "GetModelInvocationLoggingConfiguration",
            "ListFoundationModels",
            "GetFoundationModelAvailability",
            "ListInferenceProfiles",
        )
    ):
        rec = g.base(
            account,
            "us-east-1",
            t_attack + timedelta(seconds=j),
            BEDROCK.event_sources[0],
            name,
            True,
        )
        rec["userIdentity"] = key_user
        rec["sourceIPAddress"] = evil_ip
        rec["userAgent"] = evil_ua
        rec["additionalEventData"] = {"callWithBearerToken": True}
        out.append(rec)
    burst_start = t_attack + timedelta(minutes=1)
    for region in c.regions[:4]:
        for k in range(40):
            t = burst_start + timedelta(seconds=6 * k)
            rec = g.base(account, region, t, BEDROCK.event_sources[0], "InvokeModel", False)
            rec["userIdentity"] = key_user
            rec["sourceIPAddress"] = evil_ip
            rec["userAgent"] = evil_ua
            rec["requestParameters"] = {"modelId": _MODELS[1]}
            rec["additionalEventData"] = {"callWithBearerToken": True, "inputTokens": 120000}
            host = f"bedrock-runtime.{region}.amazonaws.com"
            rec["tlsDetails"]["clientProvidedHostHeader"] = host
            out.append(rec)
    t_evade = burst_start + timedelta(minutes=5)
    rec = g.base(account, "us-east-1", t_evade, BEDROCK.event_sources[0], "DeleteGuardrail", False)
    rec["userIdentity"] = key_user
    rec["sourceIPAddress"] = evil_ip
    rec["userAgent"] = evil_ua
    rec["requestParameters"] = {"guardrailIdentifier": "gr-prod-1"}
    rec["additionalEventData"] = {"callWithBearerToken": True}
    out.append(rec)
    iam("CreateAccessKey", t_evade + timedelta(minutes=3), {"userName": user})
    return out


def generate(config: SynthConfig | None = None) -> Iterator[SynthFile]:
    """Yield delivered files in delivery order (by slot, then account and region)."""
    c = config or SynthConfig()
    g = _Gen(c)
    attack: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    if c.attack and c.accounts:
        for rec in _attack_records(g, c.accounts[0], c.start, c.slots):
            t = datetime.strptime(rec["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            slot = int((t - c.start).total_seconds() // (DELIVERY_MINUTES * 60))
            slot = min(max(slot, 0), c.slots - 1)
            attack.setdefault((c.accounts[0], rec["awsRegion"], slot), []).append(rec)
    per_file = max(1, c.slots_per_file)
    for first in range(0, c.slots, per_file):
        for account in c.accounts:
            for region in c.regions:
                records: list[dict[str, Any]] = []
                for slot in range(first, min(first + per_file, c.slots)):
                    slot_start = c.start + timedelta(minutes=DELIVERY_MINUTES * slot)
                    n = max(1, int(g.rng.gauss(c.records_per_file, c.records_per_file / 4)))
                    for _ in range(n):
                        t = slot_start + timedelta(seconds=g.rng.randrange(DELIVERY_MINUTES * 60))
                        if g.rng.random() < c.bedrock_share:
                            records.append(g.bedrock(account, region, t))
                        else:
                            records.append(g.noise(account, region, t))
                    records.extend(attack.get((account, region, slot), ()))
                file_time = c.start + timedelta(minutes=DELIVERY_MINUTES * (first + 1))
                yield SynthFile(_file_key(account, region, file_time, g.hex(16).upper()), records)
