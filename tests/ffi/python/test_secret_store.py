"""The device token in a platform secret store written in Python (the FFI's
PlatformSecretStore), against the real library and a real `tellus serve` on loopback:
the token is in the store and in none of the app's SQLite files; a locked store gives
SecretStoreUnavailable, loses nothing, and the next sync delivers.
"""

import asyncio
import os
import tempfile
import unittest

import tellus_ffi as tellus

SERVER = os.environ["TELLUS_SERVER_URL"]
INVITES = os.environ["TELLUS_PY_SECRET_INVITES"].split(",")


class MemorySecrets(tellus.PlatformSecretStore):
    def __init__(self):
        self.values = {}
        self.locked = False

    def _guard(self):
        if self.locked:
            raise tellus.SecretStoreError.Unavailable("locked before the first unlock (test)")

    def get(self, name):
        self._guard()
        return self.values.get(name)

    def set(self, name, value):
        self._guard()
        self.values[name] = value

    def delete(self, name):
        self._guard()
        self.values.pop(name, None)


def database_files_contain(folder, secret):
    needle = secret.encode()
    for name in os.listdir(folder):
        if name.startswith("tellus.db"):
            with open(os.path.join(folder, name), "rb") as f:
                if needle in f.read():
                    return True
    return False


class SecretStore(unittest.TestCase):
    def test_the_token_lives_in_the_store_and_a_locked_store_loses_nothing(self):
        folder = tempfile.mkdtemp(prefix="tellus-py-secrets-")
        secrets = MemorySecrets()
        app = tellus.TellusApp.open_with_platform(folder, secrets, None)
        asyncio.run(app.enrol(SERVER, INVITES[0], "Python secrets phone"))
        token = secrets.values["device_token"]
        story = app.create_story("The lift is broken again", "Participant 2")
        app.give_consent(
            story.id,
            app.consent_form(["en"]),
            tellus.ConsentChoices(
                granted=["record"], how=tellus.ConsentHow.APP_CHECKBOX(),
                captured_by="Python reporter", name=None, contact=None,
            ),
        )
        app.mark_ready(story.id)

        secrets.locked = True
        with self.assertRaises(tellus.TellusError.SecretStoreUnavailable):
            asyncio.run(app.sync_now())
        self.assertFalse(app.account().needs_enrolment)
        self.assertEqual(app.delivery_state(story.id), tellus.DeliveryStateView.ONLY_ON_THIS_PHONE())

        secrets.locked = False
        report = asyncio.run(app.sync_now())
        self.assertEqual(report.documents_sent, 1)
        self.assertEqual(app.delivery_state(story.id), tellus.DeliveryStateView.DELIVERED(False))
        self.assertFalse(database_files_contain(folder, token), "the token is in the app's SQLite files")
