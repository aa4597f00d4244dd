"""Principals and their credentials on the cluster: SCRAM users (KIP-554)."""

from confluent_kafka.admin import (
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from .client import Admin

_MECHANISMS = {"SCRAM-SHA-256": ScramMechanism.SCRAM_SHA_256,
               "SCRAM-SHA-512": ScramMechanism.SCRAM_SHA_512}


def upsert_scram_user(admin: Admin, user: str, password: str,
                      mechanism: str = "SCRAM-SHA-512", iterations: int = 8192) -> None:
    """Create the SCRAM credential of a user, or replace its password."""
    upsertion = UserScramCredentialUpsertion(
        user, ScramCredentialInfo(_MECHANISMS[mechanism], iterations), password.encode()
    )
    futures = admin.client.alter_user_scram_credentials([upsertion],
                                                        request_timeout=admin.timeout)
    admin.result(futures[user], f"setting the SCRAM credential of user {user}")
