"""A reporter's whole journey through the real tellus-ffi library from Python, against a
real `tellus serve` on loopback that tests/ffi/run.sh starts: enrol with an invite, read
the consent form, record consent, record from the file-backed test microphone with a
marker and a note, mark ready, sync with progress, and check the server's receipt.
"""

import asyncio
import hashlib
import os
import tempfile
import threading
import unittest

import tellus_ffi as tellus
from helpers import wait_until

SERVER = os.environ["TELLUS_SERVER_URL"]
INVITES = os.environ["TELLUS_PY_INVITES"].split(",")
RATE = int(os.environ.get("TELLUS_MIC_RATE", "16000"))


def new_app():
    return tellus.TellusApp.open(tempfile.mkdtemp(prefix="tellus-py-sync-"))


class SyncJourney(unittest.TestCase):
    def test_a_recorded_story_is_delivered_with_a_matching_receipt(self):
        app = new_app()
        project = asyncio.run(app.enrol(SERVER, INVITES[0], "Python test phone"))
        self.assertTrue(project.guide, "the project's interview guide did not arrive")
        self.assertEqual(app.account().server_url, SERVER)

        form = app.consent_form(["en"])
        story = app.create_story("Finding a dentist after moving", "Participant 7")
        app.give_consent(
            story.id,
            form,
            tellus.ConsentChoices(
                granted=["record", "research_use"],
                how=tellus.ConsentHow.APP_CHECKBOX(),
                captured_by="Python reporter",
                name=None,
                contact=None,
            ),
        )
        session = app.start_recording(
            story.id, tellus.RecordingRequest(device=None, stereo=False, sample_rate=RATE, max_duration_ms=3000)
        )
        session.add_marker("", project.guide[0].id)
        wait_until(session.has_stopped)
        session.add_note_at("Waited eight months for an appointment", 1500)
        recording = session.stop()
        app.mark_ready(story.id)
        self.assertEqual(app.delivery_state(story.id), tellus.DeliveryStateView.ONLY_ON_THIS_PHONE())

        progress = []
        seen = threading.Event()

        class Progress(tellus.SyncObserver):
            def sync_progress(self, p):
                progress.append(p)
                if p.stories_done == p.stories_total and p.stories_total:
                    seen.set()

        handle = app.observe_sync(Progress())
        report = asyncio.run(app.sync_now())
        self.assertTrue(seen.wait(10), f"no final progress: {progress}")
        handle.cancel()

        # One receipt per copy: the verified FLAC and the listening copy, each matching
        # the file on this phone; the FLAC's PCM identity is the recording's.
        receipts = {r.representation: r for r in report.delivered}
        self.assertEqual(sorted(receipts), ["listening", "lossless"])
        [indexed] = app.recordings(story.id)
        files = {f.representation: f for f in indexed.files}
        for copy, receipt in receipts.items():
            self.assertEqual((receipt.recording_id, receipt.sha256, receipt.bytes),
                             (recording.recording_id, files[copy].sha256, files[copy].bytes))
            with open(files[copy].path, "rb") as f:
                self.assertEqual(hashlib.sha256(f.read()).hexdigest(), receipt.sha256)
        self.assertEqual(receipts["lossless"].format, "flac")
        self.assertEqual(receipts["lossless"].pcm_sha256, indexed.pcm_sha256)
        self.assertEqual(app.delivery_state(story.id),
                         tellus.DeliveryStateView.DELIVERED(local_audio_removed=False))
        self.assertEqual(progress[-1].story_id, story.id)

        again = asyncio.run(app.sync_now())
        self.assertEqual((again.delivered, again.documents_sent, again.consent_events_sent), ([], 0, 0))

    def test_sync_errors_are_typed(self):
        app = new_app()
        with self.assertRaises(tellus.TellusError.NotEnrolled):
            asyncio.run(app.sync_now())
        with self.assertRaises(tellus.TellusError.ServerRefused):
            asyncio.run(app.enrol(SERVER, "not-an-invite-code", "Python test phone"))
        with self.assertRaises(tellus.TellusError.Network):
            asyncio.run(app.enrol("http://127.0.0.1:9", INVITES[1], "Python test phone"))
        with self.assertRaises(tellus.TellusError.InvalidInput):
            asyncio.run(app.enrol("ftp://example.invalid", INVITES[1], "Python test phone"))
        self.assertIsNone(app.account())
