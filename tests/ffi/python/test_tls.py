"""HTTPS through the real tellus-ffi library from Python, against `tellus serve --tls-cert`
servers tests/ffi/run.sh starts with certificates made for the run: the core's one trust
decision (tellus-net) with the default trust (the test CA, which a debug build trusts
through TELLUS_DEBUG_TRUST_CA), a self-signed server trusted through the pin its invite
link carries, a wrong pin and an expired certificate refused as ServerNotTrusted; and the
same verdicts from check_server_certificate, which the iOS transport's delegate asks.
"""

import asyncio
import os
import ssl
import tempfile
import unittest
import urllib.parse

import tellus_ffi as tellus

PKI = os.environ["TELLUS_TLS_DIR"]
SELF_PIN = os.environ["TELLUS_TLS_SELF_PIN"]
OTHER_PIN = os.environ["TELLUS_TLS_OTHER_PIN"]


def server(name):
    var = name.upper().replace("-", "_")
    return os.environ[f"TELLUS_TLS_{var}_URL"], os.environ[f"TELLUS_TLS_{var}_INVITES"].split(",")[:4]


CA_URL, CA_INVITES = server("ca-signed")
SELF_URL, SELF_INVITES = server("self-signed")
EXPIRED_URL, EXPIRED_INVITES = server("expired")


def link(url, code, pin=None):
    query = {"server": url, "code": code}
    if pin:
        query["pin"] = pin
    return "tellus://enrol?" + urllib.parse.urlencode(query)


def chain(name):
    with open(os.path.join(PKI, f"{name}.pem")) as f:
        return [ssl.PEM_cert_to_DER_cert(f.read())]


def new_app():
    return tellus.TellusApp.open(tempfile.mkdtemp(prefix="tellus-py-tls-"))


def ready_story(app):
    form = app.consent_form(["en"])
    story = app.create_story("Heard over HTTPS", "Participant 9")
    app.give_consent(story.id, form, tellus.ConsentChoices(
        granted=["record"], how=tellus.ConsentHow.APP_CHECKBOX(),
        captured_by="Python reporter", name=None, contact=None))
    app.mark_ready(story.id)
    return story


class Tls(unittest.TestCase):
    def test_the_default_trust_enrols_and_syncs_with_a_ca_signed_server(self):
        app = new_app()
        asyncio.run(app.enrol(CA_URL, CA_INVITES[0], "Python TLS phone"))
        story = ready_story(app)
        report = asyncio.run(app.sync_now())
        self.assertEqual((report.consent_events_sent, report.documents_sent), (1, 1))
        self.assertEqual(app.delivery_state(story.id),
                         tellus.DeliveryStateView.DELIVERED(local_audio_removed=False))

    def test_a_self_signed_server_is_trusted_through_the_pin_of_its_invite_link(self):
        bare = new_app()
        with self.assertRaises(tellus.TellusError.ServerNotTrusted) as refused:
            asyncio.run(bare.enrol(SELF_URL, SELF_INVITES[0], "Python TLS phone"))
        self.assertIn("self-signed", str(refused.exception))
        self.assertIsNone(bare.account())

        app = new_app()
        asyncio.run(app.enrol("", link(SELF_URL, SELF_INVITES[0], SELF_PIN), "Python TLS phone"))
        self.assertEqual(app.account().server_url, SELF_URL)
        ready_story(app)
        report = asyncio.run(app.sync_now())
        self.assertEqual(report.documents_sent, 1)

    def test_a_wrong_pin_and_an_expired_certificate_are_refused(self):
        app = new_app()
        with self.assertRaises(tellus.TellusError.ServerNotTrusted) as wrong:
            asyncio.run(app.enrol("", link(SELF_URL, SELF_INVITES[1], OTHER_PIN), "phone"))
        self.assertIn("not the one the invite pinned", str(wrong.exception))
        with self.assertRaises(tellus.TellusError.ServerNotTrusted) as expired:
            asyncio.run(app.enrol(EXPIRED_URL, EXPIRED_INVITES[0], "phone"))
        self.assertIn("expired on", str(expired.exception))
        self.assertIsNone(app.account())
        # The invites were not spent: the right ones still enrol.
        asyncio.run(app.enrol("", link(SELF_URL, SELF_INVITES[1], SELF_PIN), "phone"))

    def test_the_platform_transports_check_gives_the_same_verdicts(self):
        tellus.check_server_certificate("127.0.0.1", chain("ca-signed"), None)
        tellus.check_server_certificate("127.0.0.1", chain("self-signed"), SELF_PIN)
        for name, pin, why in [
            ("self-signed", None, "self-signed"),
            ("self-signed", OTHER_PIN, "not the one the invite pinned"),
            ("expired", None, "expired on"),
            ("ca-signed", SELF_PIN, "not the one the invite pinned"),
        ]:
            with self.assertRaises(tellus.TellusError.ServerNotTrusted) as refused:
                tellus.check_server_certificate("127.0.0.1", chain(name), pin)
            self.assertIn(why, str(refused.exception), name)
        with self.assertRaises(tellus.TellusError.ServerNotTrusted):
            tellus.check_server_certificate("stories.example.org", chain("ca-signed"), None)
        with self.assertRaises(tellus.TellusError.InvalidInput):
            tellus.check_server_certificate("127.0.0.1", chain("ca-signed"), "sha256:nope")
