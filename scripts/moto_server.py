"""moto_server with the KMS call moto lacks: GetKeyLastUsage.

Same arguments as `moto_server`. moto (5.2.5) answers GetKeyLastUsage with HTTP 500, which the
SDK retries as a server fault: a 1,200-key audit then spends minutes in back-off, and no test
can see a real answer. This launcher records each key's last cryptographic use as moto serves
it (Encrypt, Decrypt, ReEncrypt, GenerateDataKey*, GenerateMac, VerifyMac, Sign, Verify) and
answers GetKeyLastUsage from it, with the shape AWS gives: KeyCreationDate, TrackingStartDate
(the key's creation here: moto tracks from then) and KeyLastUsage once the key has been used.
What AWS answers beyond that (its tracking start for older keys, a call it refuses) is covered
with aws-smithy-mocks.
"""

import json
import time

from moto.kms.responses import KmsResponse
from moto.server import main

USES = (
    ("encrypt", "Encrypt"),
    ("decrypt", "Decrypt"),
    ("re_encrypt", "ReEncrypt"),
    ("generate_data_key", "GenerateDataKey"),
    ("generate_data_key_without_plaintext", "GenerateDataKeyWithoutPlaintext"),
    ("generate_mac", "GenerateMac"),
    ("verify_mac", "VerifyMac"),
    ("sign", "Sign"),
    ("verify", "Verify"),
)


def recording(method, operation):
    def call(self):
        body = method(self)
        answer = json.loads(body)
        key_id = answer.get("KeyId") or self._get_param("KeyId")
        if key_id:
            key = self.kms_backend.describe_key(self.kms_backend.get_key_id(key_id))
            key.last_usage = {"Timestamp": time.time(), "Operation": operation}
        return body

    return call


def get_key_last_usage(self):
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyLastUsage.html"""
    key_id = self._get_param("KeyId")
    self._validate_key_id(key_id)
    key = self.kms_backend.describe_key(self.kms_backend.get_key_id(key_id))
    answer = {
        "KeyId": key.arn,
        "KeyCreationDate": key.creation_date,
        "TrackingStartDate": key.creation_date,
    }
    used = getattr(key, "last_usage", None)
    if used:
        answer["KeyLastUsage"] = used
    return json.dumps(answer)


for name, operation in USES:
    setattr(KmsResponse, name, recording(getattr(KmsResponse, name), operation))
KmsResponse.get_key_last_usage = get_key_last_usage

if __name__ == "__main__":
    main()
