"""A storyteller's withdrawal through the real tellus-ffi library from Python, against the
`tellus serve` tests/ffi/run.sh starts (issue 15): after a withdrawal with erasure and a
sync the story reads withdrawn in every view with its audio erased; recording, notes and
readiness are refused until consent is given again, which starts a clean draft. And the
consent screen's question, asked of the core: is this half-filled form complete?
"""

import asyncio
import os
import tempfile
import unittest

import tellus_ffi as tellus
from helpers import wait_until

SERVER = os.environ["TELLUS_SERVER_URL"]
INVITES = os.environ["TELLUS_PY_WITHDRAWAL_INVITES"].split(",")
RATE = int(os.environ.get("TELLUS_MIC_RATE", "16000"))


def choices(*granted, name=None):
    return tellus.ConsentChoices(
        granted=list(granted), how=tellus.ConsentHow.APP_CHECKBOX(),
        captured_by="Python reporter", name=name, contact=None)


def record_a_second(app, story):
    session = app.start_recording(
        story, tellus.RecordingRequest(device=None, stereo=False, sample_rate=RATE, max_duration_ms=1000))
    wait_until(session.has_stopped)
    return session.stop()


class Withdrawal(unittest.TestCase):
    def test_a_withdrawn_story_is_withdrawn_everywhere_and_takes_nothing_until_consent_again(self):
        app = tellus.TellusApp.open(tempfile.mkdtemp(prefix="tellus-py-withdrawal-"))
        asyncio.run(app.enrol(SERVER, INVITES[0], "Python withdrawal phone"))
        story = app.create_story("The bus that never came", "Participant 4").id
        app.give_consent(story, app.consent_form(["en"]), choices("record"))
        first = record_a_second(app, story)
        app.mark_ready(story)
        asyncio.run(app.sync_now())

        app.withdraw_consent(story, tellus.ConsentHow.APP_CHECKBOX(), "Python reporter", True)
        asyncio.run(app.sync_now())
        self.assertEqual(app.story(story).state, tellus.StoryState.WITHDRAWN)
        [listed] = [s for s in app.list_stories(50, None) if s.id == story]
        self.assertEqual((listed.state, listed.recording_count), (tellus.StoryState.WITHDRAWN, 0))
        [erased] = app.recordings(story)
        self.assertEqual((erased.id, erased.erased), (first.recording_id, True))
        self.assertFalse(os.path.exists(first.path))
        self.assertIsInstance(app.delivery_state(story), tellus.DeliveryStateView.WITHDRAWN)

        for attempt in (lambda: record_a_second(app, story),
                        lambda: app.add_note(story, "after the withdrawal", None),
                        lambda: app.mark_ready(story)):
            with self.assertRaises(tellus.TellusError.ConsentMissing) as refused:
                attempt()
            self.assertIn("withdrew consent", str(refused.exception))
        self.assertEqual(app.notes(story), [])
        self.assertEqual(len(app.recordings(story)), 1)

        app.give_consent(story, app.consent_form(["en"]), choices("record"))
        self.assertEqual(app.story(story).state, tellus.StoryState.DRAFT)
        second = record_a_second(app, story)
        app.mark_ready(story)
        report = asyncio.run(app.sync_now())
        # Both copies of the second recording, nothing of the withdrawn one.
        self.assertEqual(sorted((r.recording_id, r.representation) for r in report.delivered),
                         [(second.recording_id, "listening"), (second.recording_id, "lossless")])

    def test_the_consent_form_is_checked_by_the_core(self):
        app = tellus.TellusApp.open(tempfile.mkdtemp(prefix="tellus-py-form-"))
        app.set_project_json(tellus.sample_project_json())
        story = app.create_story("Housing office", "Participant 5").id
        # The device's languages, most wanted first: the first the form has, else English.
        self.assertEqual(app.consent_form(["pl", "es-MX"]).language, "es")
        self.assertEqual(app.consent_form(["pl"]).language, "en")
        form = app.consent_form(["en"])
        asks = {i.key: (i.asks_name, i.asks_contact) for i in form.items}
        self.assertEqual(asks["credit_by_name"], (True, False))
        self.assertEqual(asks["recontact"], (False, True))

        self.assertIn("'record'", app.check_consent_form(story, form, choices("research_use")))
        self.assertIn("name", app.check_consent_form(story, form, choices("record", "credit_by_name")))
        self.assertIsNone(app.check_consent_form(story, form, choices("record", "credit_by_name", name="Amina")))
        self.assertIsNone(app.check_consent_form(story, form, choices("record")))
        self.assertEqual(app.consent_history(story), [], "checking wrote nothing")

        # Method 'storyteller' is the storyteller's own change on the portal: the server
        # refuses it from a phone, so the core refuses to record it and keeps nothing.
        portal_only = tellus.ConsentChoices(
            granted=["record"], how=tellus.ConsentHow.STORYTELLER(),
            captured_by="Python reporter", name=None, contact=None)
        with self.assertRaises(tellus.TellusError.InvalidInput) as refused:
            app.give_consent(story, form, portal_only)
        self.assertIn("storyteller", str(refused.exception))
        self.assertEqual(app.consent_history(story), [], "nothing was stored")
        app.give_consent(story, form, choices("record"))
        for attempt in (lambda: app.amend_consent(story, portal_only),
                        lambda: app.withdraw_consent(story, tellus.ConsentHow.STORYTELLER(), "Python reporter", True)):
            with self.assertRaises(tellus.TellusError.InvalidInput):
                attempt()
        self.assertEqual([e.kind for e in app.consent_history(story)], ["given"], "nothing was stored")
        self.assertIn("already given", app.check_consent_form(story, form, choices("record")))
