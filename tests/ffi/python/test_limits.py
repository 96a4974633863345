"""Limits that phone and server agree on (issue 24), through the real tellus-ffi library
against a real `tellus serve` of this test's own, configured with small limits: the
phone gets them with the project configuration, a story at exactly every limit is
delivered, one character or byte over is refused at input and changes nothing, and a
story that no longer fits after the server lowered its limits is parked at once with
the reason instead of being sent to be refused, until the reporter shortens it.
"""

import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import tellus_ffi as tellus
from helpers import wait_until

TELLUS = os.environ["TELLUS_BIN"]
RATE = int(os.environ.get("TELLUS_MIC_RATE", "16000"))
PROJECT = "coproduction-stories-2026"

SMALL = dict(
    title_chars=40,
    summary_chars=120,
    label_chars=16,
    note_chars=500,
    notes_per_story=30,
    fields_per_story=3,
    field_chars=24,
    recordings_per_story=2,
    document_bytes=12_000,
    recording_bytes=100_000,
)


class Server:
    """`tellus serve` on loopback with `limits` in its TOML configuration."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tellus-py-limits-server-")
        self.process = None
        # The sample project with the fields this test fills in (a story holds only its
        # project's fields): names exactly at the limit, and two more.
        sample = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "../../../core/src/model/sample_project.json")
        with open(sample) as f:
            project = json.load(f)
        project["fields"] = [{"key": key, "label": key}
                             for key in [f"{n}" * 16 for n in range(3)] + ["other", "fourth"]]
        project_file = os.path.join(self.dir, "project.json")
        with open(project_file, "w") as f:
            json.dump(project, f)
        subprocess.run([TELLUS, "--data-dir", self.dir, "admin", "project", "create",
                        "--config", project_file], check=True, capture_output=True)

    def start(self, limits, port=0):
        """Serves with `limits`; a restart keeps the port, so enrolled phones find it."""
        config = os.path.join(self.dir, "server.toml")
        with open(config, "w") as f:
            f.write("[limits]\n" + "".join(f"{k} = {v}\n" for k, v in limits.items()))
        out = self.out = open(os.path.join(self.dir, "serve.out"), "w+")
        self.process = subprocess.Popen(
            [TELLUS, "--data-dir", self.dir, "serve", "--config", config, "--listen", f"127.0.0.1:{port}"],
            stdout=out, stderr=subprocess.DEVNULL, env={**os.environ, "TELLUS_LOG": "warn"},
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            out.seek(0)
            found = re.search(r"http://[0-9.:]+", out.read())
            if found:
                self.url = found.group(0)
                return
            if self.process.poll() is not None:
                raise AssertionError("tellus serve stopped")
            time.sleep(0.05)
        raise AssertionError("tellus serve did not start")

    def port(self):
        return int(self.url.rsplit(":", 1)[1])

    def stop(self):
        self.process.terminate()
        self.process.wait(20)
        self.out.close()

    def invite(self):
        out = subprocess.run(
            [TELLUS, "--data-dir", self.dir, "--json", "admin", "invite", "--project", PROJECT, "--role", "reporter"],
            check=True, capture_output=True, text=True,
        ).stdout
        return json.loads(out)["code"]


def consent(app, story):
    app.give_consent(
        story.id, app.consent_form(["en"]),
        tellus.ConsentChoices(granted=["record"], how=tellus.ConsentHow.APP_CHECKBOX(),
                              captured_by="Python reporter", name=None, contact=None),
    )


class Limits(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        cls.server.start(SMALL)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.server.dir, ignore_errors=True)

    def enrolled(self):
        app = tellus.TellusApp.open(tempfile.mkdtemp(prefix="tellus-py-limits-"))
        asyncio.run(app.enrol(self.server.url, self.server.invite(), "Python phone"))
        return app

    def refused(self, call, *args):
        with self.assertRaises(tellus.TellusError.InvalidInput, msg=f"{call.__name__}{args!r}"):
            call(*args)

    def test_a_story_at_exactly_every_limit_is_delivered_and_one_over_is_refused_at_input(self):
        app = self.enrolled()
        limits = app.limits()
        self.assertEqual(
            {k: getattr(limits, k) for k in SMALL}, SMALL,
            "the phone did not get the server's limits with the project configuration",
        )

        # Title, summary and storyteller label: exactly at their limit, one character over.
        self.refused(app.create_story, "t" * 41, "P")
        self.refused(app.create_story, "Title", "l" * 17)
        story = app.create_story("é" * 40, "ł" * 16)
        consent(app, story)
        self.refused(app.edit_story, story.id, None, "s" * 121)
        app.edit_story(story.id, None, "ß" * 120)

        # Demographic fields: as many as allowed, each name and value at its limit.
        for n in range(3):
            app.set_demographic(story.id, f"{n}" * 16, "v" * 24)
        self.refused(app.set_demographic, story.id, "x" * 17, "v")
        self.refused(app.set_demographic, story.id, "other", "v" * 25)
        self.refused(app.set_demographic, story.id, "fourth", "v")
        self.assertEqual(len(app.story(story.id).demographics), 3)

        # Recordings: as many as allowed, each stopped by the recorder at the size limit.
        for _ in range(2):
            session = app.start_recording(
                story.id, tellus.RecordingRequest(device=None, stereo=False, sample_rate=RATE, max_duration_ms=None)
            )
            wait_until(session.has_stopped, 60)
            done = session.stop()
            self.assertEqual(done.reason, tellus.StopReasonView.FILE_SIZE_LIMIT)
            self.assertLessEqual(done.bytes, 100_000)
            self.assertGreater(done.bytes, 99_000)
        self.refused(app.start_recording, story.id,
                     tellus.RecordingRequest(device=None, stereo=False, sample_rate=RATE, max_duration_ms=500))

        # A note at exactly its limit, one over refused.
        self.refused(app.add_note, story.id, "n" * 501, None)
        app.add_note(story.id, "n" * 500, None)

        # The document: filled to exactly its limit; a note one character longer than
        # the last one that fits is refused and changes nothing.
        size = lambda: app.story_size(story.id).document_bytes
        before = size()
        app.add_note(story.id, "o" * 10, None)
        overhead = size() - before - 10
        while True:
            need = SMALL["document_bytes"] - size() - overhead
            if need <= 500:
                break
            app.add_note(story.id, "f" * min(500, need - overhead - 1), None)
        notes = len(app.notes(story.id))
        self.refused(app.add_note, story.id, "z" * (need + 1), None)
        self.assertEqual((len(app.notes(story.id)), size()), (notes, SMALL["document_bytes"] - need - overhead))
        app.add_note(story.id, "z" * need, None)
        self.assertEqual(size(), SMALL["document_bytes"])
        self.refused(app.add_note, story.id, "!", None)
        self.refused(app.edit_story, story.id, "é" * 39 + "éé", None)

        # Delivered whole: the document (listing each recording's FLAC and listening copy,
        # which the size measured at input left room for), the consent and the receipts
        # of both recordings' two copies.
        app.mark_ready(story.id)
        report = asyncio.run(app.sync_now())
        self.assertEqual((report.documents_sent, len(report.delivered), report.parked), (1, 4, []))
        self.assertEqual(app.delivery_state(story.id), tellus.DeliveryStateView.DELIVERED(local_audio_removed=False))

    def test_a_story_that_no_longer_fits_lowered_limits_is_parked_at_once_with_the_reason(self):
        app = self.enrolled()
        story = app.create_story("Written before the limits changed", "P")
        consent(app, story)
        for _ in range(6):
            app.add_note(story.id, "w" * 400, None)
        app.mark_ready(story.id)
        self.server.stop()
        try:
            self.server.start({**SMALL, "note_chars": 300}, self.server.port())
            # The next sync learns the new limits first and parks the story at once.
            report = asyncio.run(app.sync_now())
            self.assertEqual(app.limits().note_chars, 300)
            self.assertEqual(len(report.parked), 1, f"{report}")
            self.assertEqual(report.documents_sent, 0)
            state = app.delivery_state(story.id)
            self.assertIsInstance(state, tellus.DeliveryStateView.NEEDS_ATTENTION)
            self.assertIn("at most 300", state.reason)
            # Retrying the same cannot help: parked again, still with the reason.
            app.retry_parked()
            asyncio.run(app.sync_now())
            self.assertIn("at most 300", app.delivery_state(story.id).reason)
            # New input is held to the new limits.
            self.refused(app.add_note, story.id, "w" * 301, None)
            # What the reporter can do: shorten the notes, then try again. Delivered.
            for note in app.notes(story.id):
                self.refused(app.edit_note, note.id, "w" * 301)
                app.edit_note(note.id, "w" * 300)
            app.delete_note(app.notes(story.id)[0].id)
            self.assertEqual(app.retry_parked(), 1)
            asyncio.run(app.sync_now())
            self.assertEqual(app.delivery_state(story.id),
                             tellus.DeliveryStateView.DELIVERED(local_audio_removed=False))
        finally:
            self.server.stop()
            self.server.start(SMALL, self.server.port())
