"""Issue 23: the calls the shells build their screens and scheduling on, from Python
through the real library: the story list's page with delivery states in one call (the
same as the single call), when to sync next and why, and the clock format."""

import asyncio
import os
import tempfile
import unittest

import tellus_ffi as tellus

SERVER = os.environ["TELLUS_SERVER_URL"]
INVITES = os.environ["TELLUS_PY_SHELL_INVITES"].split(",")


def app_with_sample_project():
    app = tellus.TellusApp.open(tempfile.mkdtemp(prefix="tellus-py-shell-"))
    app.set_project_json(tellus.sample_project_json())
    return app


def choices(*granted):
    return tellus.ConsentChoices(
        granted=list(granted),
        how=tellus.ConsentHow.APP_CHECKBOX(),
        captured_by="Python reporter",
        name=None,
        contact=None,
    )


class ShellApi(unittest.TestCase):
    def test_the_page_matches_the_single_calls_and_pages_by_cursor(self):
        app = app_with_sample_project()
        ids = [app.create_story(f"Story {i}", f"P{i}").id for i in range(5)]
        app.give_consent(ids[1], app.consent_form(["en"]), choices("record"))
        app.mark_ready(ids[1])
        first = app.story_page(3, None)
        rest = app.story_page(3, first[-1].story.id)
        self.assertEqual([r.story.id for r in first + rest], list(reversed(ids)))
        for row in first + rest:
            self.assertEqual(row.delivery, app.delivery_state(row.story.id))
        for bad in (0, 501):
            with self.assertRaises(tellus.TellusError.InvalidInput):
                app.story_page(bad, None)

    def test_next_attempt_waits_for_a_connection_then_sends_then_is_idle(self):
        app = tellus.TellusApp.open(tempfile.mkdtemp(prefix="tellus-py-next-"))
        asyncio.run(app.enrol(SERVER, INVITES[0], "Python shell API phone"))
        self.assertEqual(app.next_attempt().reason, tellus.NextAttemptReasonView.IDLE)
        story = app.create_story("A story without audio", "P")
        app.give_consent(story.id, app.consent_form(["en"]), choices("record"))
        app.mark_ready(story.id)
        app.set_network(tellus.NetworkKind.NONE)
        with self.assertRaises(tellus.TellusError.Network):
            asyncio.run(app.sync_now())
        nxt = app.next_attempt()
        self.assertEqual(nxt.reason, tellus.NextAttemptReasonView.WAITING_FOR_CONNECTION)
        self.assertIsNone(nxt.at_ms)
        self.assertTrue(nxt.scheduled)
        app.set_network(tellus.NetworkKind.METERED)
        self.assertEqual(app.next_attempt().reason, tellus.NextAttemptReasonView.MORE_TO_SEND)
        report = asyncio.run(app.sync_now())
        self.assertEqual(report.documents_sent, 1)
        self.assertEqual(report.next_attempt.reason, tellus.NextAttemptReasonView.IDLE)
        self.assertFalse(report.next_attempt.scheduled)
        (row,) = app.story_page(10, None)
        self.assertEqual(row.delivery, tellus.DeliveryStateView.DELIVERED(local_audio_removed=False))

    def test_positions_are_formatted_as_a_clock(self):
        self.assertEqual(tellus.format_audio_position(59_999), "0:59")
        self.assertEqual(tellus.format_audio_position(3_600_000), "1:00:00")


if __name__ == "__main__":
    unittest.main()
