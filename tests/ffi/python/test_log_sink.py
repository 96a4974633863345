"""The core's logs through the real library's LogSink from Python, as the shells send them
to logcat and os_log: records arrive with their level and the part of the core that
logged, nothing below the level asked for, and at debug level over a journey (enrol over
HTTPS with a pinned key, consent with a name and contact, notes, sync) no story text,
name, contact, note or invite code appears in any record. A sink that throws is the
shell's bug, not the core's: what logged goes on, and the sink keeps receiving.
"""

import asyncio
import os
import tempfile
import threading
import unittest
import urllib.parse

import tellus_ffi as tellus

SELF_URL = os.environ["TELLUS_TLS_SELF_SIGNED_URL"]
SELF_INVITES = os.environ["TELLUS_TLS_SELF_SIGNED_INVITES"].split(",")  # [4]: this file; [5:]: Kotlin
SELF_PIN = os.environ["TELLUS_TLS_SELF_PIN"]


class Collect(tellus.LogSink):
    def __init__(self):
        self.records = []
        self.lock = threading.Lock()

    def log(self, record):
        with self.lock:
            self.records.append(record)


class Throwing(Collect):
    def log(self, record):
        super().log(record)
        raise RuntimeError("the shell's logger failed")


class LogSink(unittest.TestCase):
    def tearDown(self):
        tellus.set_log_sink(None, tellus.LogLevel.ERROR)

    def test_a_journey_at_debug_level_logs_its_steps_and_nothing_personal(self):
        sink = Collect()
        tellus.set_log_sink(sink, tellus.LogLevel.DEBUG)
        code = SELF_INVITES[4]
        app = tellus.TellusApp.open(tempfile.mkdtemp(prefix="tellus-py-logs-"))
        invite = "tellus://enrol?" + urllib.parse.urlencode(
            {"server": SELF_URL, "code": code, "pin": SELF_PIN})
        asyncio.run(app.enrol("", invite, "Python phone"))
        form = app.consent_form(["en"])
        story = app.create_story("TitleNeverLogged", "LabelNeverLogged")
        app.give_consent(story.id, form, tellus.ConsentChoices(
            granted=["record", "credit_by_name", "recontact"], how=tellus.ConsentHow.APP_CHECKBOX(),
            captured_by="CapturerNeverLogged", name="NameNeverLogged", contact="ContactNeverLogged"))
        app.add_note(story.id, "NoteNeverLogged", 1000)
        app.mark_ready(story.id)
        asyncio.run(app.sync_now())

        with sink.lock:
            records = list(sink.records)
        messages = [r.message for r in records]
        self.assertTrue(any(r.target.startswith("tellus_core::sync") and "enrolled" in r.message
                            for r in records), messages)
        self.assertTrue(any("sync finished" in m and "documents=1" in m for m in messages), messages)
        self.assertTrue(any(r.level == tellus.LogLevel.DEBUG for r in records), "no debug records")
        text = "\n".join(f"{r.target} {r.message}" for r in records)
        for secret in ["NeverLogged", code, code.replace("-", "")]:
            self.assertNotIn(secret, text)

    def test_nothing_below_the_level_asked_for_and_nothing_once_removed(self):
        sink = Collect()
        tellus.set_log_sink(sink, tellus.LogLevel.WARN)
        app = tellus.TellusApp.open(tempfile.mkdtemp(prefix="tellus-py-logs-"))
        with self.assertRaises(tellus.TellusError.NotEnrolled):
            asyncio.run(app.sync_now())  # a warning: the sync stopped
        with sink.lock:
            levels = {r.level for r in sink.records}
        self.assertEqual(levels, {tellus.LogLevel.WARN}, [r.message for r in sink.records])
        tellus.set_log_sink(None, tellus.LogLevel.TRACE)
        count = len(sink.records)
        with self.assertRaises(tellus.TellusError.NotEnrolled):
            asyncio.run(app.sync_now())
        self.assertEqual(len(sink.records), count)

    def test_a_sink_that_throws_stops_nothing_and_keeps_receiving(self):
        sink = Throwing()
        tellus.set_log_sink(sink, tellus.LogLevel.TRACE)
        # Opening logs on this thread, a sync on the core's; every call of the sink throws.
        app = tellus.TellusApp.open(tempfile.mkdtemp(prefix="tellus-py-logs-"))
        app.set_project_json(tellus.sample_project_json())
        story = app.create_story("A title", "A label")
        for _ in range(2):
            with self.assertRaises(tellus.TellusError.NotEnrolled):
                asyncio.run(app.sync_now())
        self.assertEqual(app.story(story.id).title, "A title")
        with sink.lock:
            opened = sum("open" in r.message for r in sink.records)
            stopped = sum(r.level == tellus.LogLevel.WARN for r in sink.records)
        self.assertGreaterEqual(opened, 1, [r.message for r in sink.records])
        self.assertGreaterEqual(stopped, 2, "the sink stopped hearing after it threw")
        # Later sinks hear this thread too.
        after = Collect()
        tellus.set_log_sink(after, tellus.LogLevel.TRACE)
        tellus.TellusApp.open(tempfile.mkdtemp(prefix="tellus-py-logs-"))
        self.assertTrue(after.records, "nothing logged after a sink threw")
