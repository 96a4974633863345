"""The storyteller's receipt through the real tellus-ffi library from Python (issue 21):
made by the core when consent is given, with the form's exact words and each choice, the
personal code in groups, and the portal link (the code in its fragment) as an SVG QR code
in a self-contained page; the same code after an amendment; none after a withdrawal.
"""

import asyncio
import os
import re
import tempfile
import unittest

import tellus_ffi as tellus

SERVER = os.environ["TELLUS_SERVER_URL"]
INVITES = os.environ["TELLUS_PY_RECEIPT_INVITES"].split(",")
CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){3}$")


def choices(*granted, name=None):
    return tellus.ConsentChoices(
        granted=list(granted), how=tellus.ConsentHow.APP_CHECKBOX(),
        captured_by="Python reporter", name=name, contact=None)


class Receipt(unittest.TestCase):
    def test_consent_gives_a_receipt_with_the_code_and_a_qr_of_the_portal_link(self):
        app = tellus.TellusApp.open(tempfile.mkdtemp(prefix="tellus-py-receipt-"))
        asyncio.run(app.enrol(SERVER, INVITES[0], "Python receipt phone"))
        story = app.create_story("Rent & repairs", "Participant 8").id
        form = app.consent_form(["en"])
        app.give_consent(story, form, choices("record", "credit_by_name", name="Amina <\"A\">"))

        receipt = app.receipt(story)
        self.assertEqual(receipt.language, "en")
        self.assertRegex(receipt.code, CODE)
        self.assertEqual(receipt.portal_url, SERVER.rstrip("/") + "/s#" + receipt.code)
        for item in form.items:
            granted = item.key in ("record", "credit_by_name")
            line = [l for l in receipt.text.splitlines() if item.label in l]
            self.assertEqual(len(line), 1, item.key)
            self.assertTrue(line[0].startswith("[x] Yes: " if granted else "[ ] No: "), line[0])
        self.assertIn("Your personal code: " + receipt.code, receipt.text)
        self.assertIn("Name: Amina <\"A\">", receipt.text)
        self.assertIn("Amina &lt;&quot;A&quot;&gt;", receipt.html)
        self.assertNotIn("Amina <", receipt.html)
        self.assertIn("<svg", receipt.html)
        self.assertIn(receipt.portal_url, receipt.html)

        app.amend_consent(story, choices("record"))
        self.assertEqual(app.receipt(story).code, receipt.code)

        app.withdraw_consent(story, tellus.ConsentHow.APP_CHECKBOX(), "Python reporter", False)
        with self.assertRaises(tellus.TellusError.ConsentMissing):
            app.receipt(story)


if __name__ == "__main__":
    unittest.main()
