"""Realistic SCPs from AWS's public examples, used by several test modules."""

from __future__ import annotations

from typing import Any

#: aws-samples/service-control-policy-examples Deny-Bedrock-api-keys-longer-than-30-days.json
#: (DOMAIN-FACTS §5): an age cap with no Null guard, and >= 30 blocks exactly 30.
AWS_SAMPLE_30_DAYS: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenyBedrockApiKeysLongerThan30Days",
            "Effect": "Deny",
            "Action": "iam:CreateServiceSpecificCredential",
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "iam:ServiceSpecificCredentialServiceName": "bedrock.amazonaws.com"
                },
                "NumericGreaterThanEquals": {"iam:ServiceSpecificCredentialAgeDays": "30"},
            },
        }
    ],
}

#: aws-samples Deny-Bedrock-long-term-api-keys.json: lower-case key, mantle not covered.
AWS_SAMPLE_LONG_TERM: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenyBedrockLongTermApiKeys",
            "Effect": "Deny",
            "Action": "bedrock:CallWithBearerToken",
            "Resource": "*",
            "Condition": {"StringEquals": {"bedrock:bearerTokenType": "LONG_TERM"}},
        }
    ],
}
