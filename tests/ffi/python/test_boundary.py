"""What shells do to the FFI boundary, through the real tellus-ffi library against the
real `tellus serve` that tests/ffi/run.sh starts (issue 24): a story the core accepts is
delivered, observers that throw keep receiving, a server's early 413 arrives as a
refusal, bad input is an input error, and the delivery state says why nothing moves.
"""

import asyncio
import os
import tempfile
import threading
import unittest

import tellus_ffi as tellus
from helpers import wait_until

SERVER = os.environ["TELLUS_SERVER_URL"]
INVITES = os.environ["TELLUS_PY_BOUNDARY_INVITES"].split(",")
RATE = int(os.environ.get("TELLUS_MIC_RATE", "16000"))


def new_app():
    return tellus.TellusApp.open(tempfile.mkdtemp(prefix="tellus-py-boundary-"))


def enrolled_app():
    app = new_app()
    asyncio.run(app.enrol(SERVER, INVITES.pop(), "Python boundary phone"))
    return app


def consented_story(app, title="Finding a dentist"):
    story = app.create_story(title, "Participant 4")
    app.give_consent(
        story.id,
        app.consent_form(["en"]),
        tellus.ConsentChoices(
            granted=["record"], how=tellus.ConsentHow.APP_CHECKBOX(), captured_by="Python reporter",
            name=None, contact=None,
        ),
    )
    return story


def record(app, story, ms=1000):
    session = app.start_recording(
        story.id, tellus.RecordingRequest(device=None, stereo=False, sample_rate=RATE, max_duration_ms=ms)
    )
    wait_until(session.has_stopped)
    return session.stop()


class Recorder:
    """Collects what an observer is told; throws on the calls named in `throw_on`."""

    def __init__(self, throw_on=(1,)):
        self.calls = []
        self.throw_on = set(throw_on)
        self.lock = threading.Lock()

    def seen(self, value):
        with self.lock:
            self.calls.append(value)
            n = len(self.calls)
        if n in self.throw_on:
            raise RuntimeError(f"a bug in the shell's observer (call {n})")


class StoryLimits(unittest.TestCase):
    def test_a_story_the_core_accepts_is_delivered_and_what_would_not_fit_is_refused_at_input(self):
        # Finding 1: 120 notes of 10,000 characters made a document the server refused
        # (413), retried for a minute, showed "uploading 99 %" and never arrived.
        app = enrolled_app()
        story = consented_story(app)
        accepted, refusal = 0, None
        for n in range(120):
            try:
                app.add_note(story.id, f"note {n:03} " + "x" * 9_990, None)
                accepted += 1
            except tellus.TellusError.InvalidInput as e:
                refusal = str(e)
                break
        self.assertIsNotNone(refusal, "120 notes of 10,000 characters were all accepted")
        self.assertIn("story", refusal)
        self.assertEqual(len(app.notes(story.id)), accepted, "a refused note changed the story")
        app.mark_ready(story.id)
        asyncio.run(app.sync_now())
        self.assertEqual(app.delivery_state(story.id), tellus.DeliveryStateView.DELIVERED(local_audio_removed=False))

    def test_a_title_that_is_only_a_nul_is_an_input_error_and_changes_nothing(self):
        app = new_app()
        app.set_project_json(tellus.sample_project_json())
        for title in ["\0", "\0\0 ", "Before\0after", "bell\x07"]:
            with self.assertRaises(tellus.TellusError.InvalidInput, msg=repr(title)):
                app.create_story(title, "P")
        story = app.create_story("A real title", "P")
        with self.assertRaises(tellus.TellusError.InvalidInput):
            app.edit_story(story.id, "\0", None)
        with self.assertRaises(tellus.TellusError.InvalidInput):
            app.add_note(story.id, "\0", None)
        self.assertEqual([s.title for s in app.list_stories(10, None)], ["A real title"])
        self.assertEqual(app.notes(story.id), [])

    def test_opening_an_empty_or_relative_path_is_an_input_error_and_creates_nothing(self):
        here = os.getcwd()
        folder = tempfile.mkdtemp(prefix="tellus-py-cwd-")
        os.chdir(folder)
        try:
            for path in ["", "  ", "relative/data"]:
                with self.assertRaises(tellus.TellusError.InvalidInput, msg=repr(path)):
                    tellus.TellusApp.open(path)
            self.assertEqual(os.listdir(folder), [], "opening created files in the working folder")
        finally:
            os.chdir(here)


class Observers(unittest.TestCase):
    def test_a_story_observer_that_throws_keeps_receiving_and_its_handle_says_so(self):
        # Finding 3: the exception ended the observer's thread while the handle looked alive.
        app = new_app()
        app.set_project_json(tellus.sample_project_json())
        seen = Recorder(throw_on=(1,))

        class Observer(tellus.StoryObserver):
            def story_changed(self, story):
                seen.seen(story.title)

        handle = app.observe_stories(Observer())
        app.create_story("First", "P")
        wait_until(lambda: len(seen.calls) >= 1, 10)
        app.create_story("Second", "P")
        wait_until(lambda: "Second" in seen.calls, 10)
        self.assertTrue(handle.is_active())
        self.assertEqual(handle.failed_calls(), 1)
        handle.cancel()
        self.assertFalse(handle.is_active())

    def test_a_sync_observer_that_throws_keeps_receiving(self):
        app = enrolled_app()
        seen = Recorder(throw_on=(1, 2, 3))

        class Observer(tellus.SyncObserver):
            def sync_progress(self, progress):
                seen.seen(progress.stories_total)

        handle = app.observe_sync(Observer())
        asyncio.run(app.sync_now())
        wait_until(lambda: len(seen.calls) >= 1, 10)
        before = len(seen.calls)
        asyncio.run(app.sync_now())
        wait_until(lambda: len(seen.calls) > before, 10)
        self.assertTrue(handle.is_active())
        self.assertGreaterEqual(handle.failed_calls(), 1)
        handle.cancel()

    def test_a_level_observer_that_throws_keeps_receiving(self):
        app = new_app()
        app.set_project_json(tellus.sample_project_json())
        story = app.create_story("Levels", "P")
        seen = Recorder(throw_on=(1,))

        class Observer(tellus.LevelObserver):
            def level_changed(self, level):
                seen.seen(level.at_ms)

        session = app.start_recording(
            story.id, tellus.RecordingRequest(device=None, stereo=False, sample_rate=RATE, max_duration_ms=None)
        )
        handle = session.observe_levels(Observer())
        # The test microphone is not paced and its levels are coalesced: one more than
        # the call that threw is what can be counted on.
        wait_until(lambda: len(seen.calls) >= 2, 30)
        self.assertEqual(handle.failed_calls(), 1)
        handle.cancel()
        session.stop()


class EarlyAnswers(unittest.TestCase):
    def test_a_body_the_server_stops_reading_is_refused_not_a_network_error(self):
        # Finding 4: the server answered 413 and closed while the body was still being
        # sent; the app saw "Broken pipe" (a network error: try later) instead.
        outcomes = []
        for size in [8 << 20, 32 << 20, 8 << 20, 32 << 20, 8 << 20, 32 << 20]:
            app = new_app()
            try:
                asyncio.run(app.enrol(SERVER, "ABCD-EFGH-JKLM-NPQR", "x" * size))
                outcomes.append("accepted")
            except tellus.TellusError.ServerRefused as e:
                outcomes.append("refused" if "large" in str(e) else f"refused: {e}")
            except tellus.TellusError.Network as e:
                outcomes.append(f"network: {e}")
        self.assertEqual(outcomes, ["refused"] * 6)


class DeliveryStates(unittest.TestCase):
    def test_audio_held_for_wifi_says_so(self):
        # Finding 5: held audio showed "uploading 0 %", not why nothing moved.
        app = enrolled_app()
        story = consented_story(app, "Held for Wi-Fi")
        record(app, story)
        app.mark_ready(story.id)
        app.set_network(tellus.NetworkKind.METERED)
        report = asyncio.run(app.sync_now())
        # Metered: the small listening copy went, the lossless copy waits for Wi-Fi.
        self.assertEqual([r.representation for r in report.delivered], ["listening"])
        self.assertEqual(report.audio_waiting_for_unmetered, 1)
        state = app.delivery_state(story.id)
        self.assertIsInstance(state, tellus.DeliveryStateView.WAITING_FOR_UNMETERED)
        self.assertTrue(0 < state.percent < 20, state)
        app.set_network(tellus.NetworkKind.NONE)
        self.assertEqual(app.delivery_state(story.id),
                         tellus.DeliveryStateView.WAITING_FOR_CONNECTION(percent=state.percent))
        app.set_network(tellus.NetworkKind.UNMETERED)
        asyncio.run(app.sync_now())
        self.assertEqual(app.delivery_state(story.id), tellus.DeliveryStateView.DELIVERED(local_audio_removed=False))


class Inputs(unittest.TestCase):
    def test_exactly_one_input_is_the_default(self):
        inputs = tellus.list_audio_inputs()
        self.assertEqual(len([i for i in inputs if i.is_default]), 1, f"{inputs}")


class MovedAside(unittest.TestCase):
    def test_recordings_of_a_database_moved_aside_are_offered_and_recovered_into_a_story(self):
        folder = tempfile.mkdtemp(prefix="tellus-py-aside-")
        app = tellus.TellusApp.open(folder)
        app.set_project_json(tellus.sample_project_json())
        story = app.create_story("Before the damage", "P")
        done = record(app, story)
        del app
        with open(os.path.join(folder, "tellus.db"), "r+b") as f:
            f.write(b"this is no longer a database" * 200)
        for suffix in ["-wal", "-shm"]:
            if os.path.exists(os.path.join(folder, "tellus.db" + suffix)):
                os.remove(os.path.join(folder, "tellus.db" + suffix))

        app = tellus.TellusApp.open(folder)
        self.assertIsNotNone(app.damaged_database_moved_to())
        app.set_project_json(tellus.sample_project_json())
        [orphan] = app.orphan_recordings()
        self.assertEqual((orphan.recording_id, orphan.bytes, orphan.duration_ms),
                         (done.recording_id, done.bytes, done.duration_ms))
        rescued = app.create_story("Recovered interview", "P")
        recording = app.adopt_recording(orphan.recording_id, rescued.id)
        self.assertEqual((recording.sha256, recording.recovered), (done.sha256, True))
        self.assertEqual([r.id for r in app.recordings(rescued.id)], [done.recording_id])
        self.assertEqual(app.orphan_recordings(), [])
        with self.assertRaises(tellus.TellusError.NotFound):
            app.adopt_recording(orphan.recording_id, rescued.id)
